"""Data loading: structures per second from a 1 GB molmtl HDF5 file, against model consumption.

The file is built once from the 3BPA configurations (27 atoms) with small random
displacements of positions and labels, so that gzip finds no repeated blocks, until it
holds about ``--size-gb`` GB. Then ``H5Dataset`` (lazy reads plus a vesin neighbour list
per structure) feeds a torch-geometric ``DataLoader`` with 0, 1 and 2 worker processes,
shuffled (random access, as in training) and in file order. The model's consumption rate is
the number of structures per second that one molmtl training step (energy, forces by
autograd, backward, Adam) processes on batches that are already in memory.

    .venv/bin/python scripts/bench/bench_data_loading.py
    .venv/bin/python scripts/bench/bench_data_loading.py --quick    # 50 MB file, 5 s per case
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from common import WORK_ROOT, add_common_arguments, format_table, header, write_json
from systems import shared_data_root

#: Bytes per atom and per structure before compression (pos, forces, charges, numbers; per-structure arrays).
BYTES_PER_ATOM = 57
BYTES_PER_STRUCTURE = 200


def build_file(path: Path, size_gb: float, seed: int = 0) -> dict:
    """Write a molmtl HDF5 file of about ``size_gb`` GB (uncompressed) unless it exists."""
    from ase.io import read

    from molmtl.data.structure import Structure
    from molmtl.data.writer import H5Writer

    if path.exists():
        return {"path": str(path), "bytes": path.stat().st_size, "built_seconds": None}
    frames = read(shared_data_root() / "md_energy_forces" / "botnet_3bpa" / "train_300K.xyz", index=":")
    rng = np.random.default_rng(seed)
    target_atoms = int(size_gb * 1e9 / (BYTES_PER_ATOM + BYTES_PER_STRUCTURE / len(frames[0])))
    started = time.perf_counter()
    provenance = {"source": "3BPA train_300K.xyz with random displacements", "level_of_theory": "DFT (3BPA); perturbed copies",
                  "command": " ".join(sys.argv)}
    written_atoms = 0
    with H5Writer(path, provenance=provenance, validate=False) as writer:
        while written_atoms < target_atoms:
            batch = []
            for atoms in frames:
                batch.append(Structure(
                    numbers=atoms.numbers,
                    positions=atoms.positions + rng.normal(scale=0.01, size=atoms.positions.shape),
                    energy=float(atoms.get_potential_energy()) + rng.normal(scale=0.01),
                    forces=atoms.get_forces() + rng.normal(scale=0.01, size=atoms.positions.shape),
                ))
            writer.append(batch)
            written_atoms += sum(len(atoms) for atoms in frames)
    return {"path": str(path), "bytes": path.stat().st_size, "built_seconds": time.perf_counter() - started}


def loader_rate(path: Path, workers: int, shuffle: bool, batch_size: int, seconds: float) -> dict:
    """Return structures/s drawn from a DataLoader over ``path`` for about ``seconds``."""
    import torch
    from torch_geometric.loader import DataLoader

    from molmtl.data.dataset import H5Dataset

    dataset = H5Dataset(path, cutoff=5.0, dtype=torch.float64)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                        persistent_workers=False, generator=torch.Generator().manual_seed(0))
    iterator = iter(loader)
    next(iterator)  # worker start-up and the first batch are not timed
    structures = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        batch = next(iterator)
        structures += int(batch.num_graphs)
    elapsed = time.perf_counter() - started
    del iterator
    return {"workers": workers, "shuffle": shuffle, "structures": structures, "seconds": elapsed,
            "structures_per_second": structures / elapsed}


def consumption_rate(path: Path, dtype_name: str, batch_size: int, seconds: float) -> dict:
    """Return structures/s of molmtl training steps on in-memory batches from ``path``."""
    import torch
    from torch_geometric.data import Batch

    from molmtl import MolMTLModel, ModelConfig
    from molmtl.data.dataset import H5Dataset

    dtype = {"float32": torch.float32, "float64": torch.float64}[dtype_name]
    dataset = H5Dataset(path, cutoff=5.0, dtype=dtype)
    batches = [Batch.from_data_list([dataset[i * batch_size + j] for j in range(batch_size)]) for i in range(20)]
    model = MolMTLModel(ModelConfig(atomic_numbers=[1, 6, 7, 8], dtype=dtype_name, heads=["energy"]))
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    structures, steps = 0, 0
    started = None
    while started is None or time.perf_counter() - started < seconds:
        batch = batches[steps % len(batches)]
        out = model(batch, compute_forces=True)
        loss = ((out["energy"] - batch.energy) ** 2).mean() + ((out["forces"] - batch.forces) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += 1
        if started is None:  # the first step is a warm-up
            started = time.perf_counter()
            continue
        structures += batch_size
    elapsed = time.perf_counter() - started
    return {"dtype": dtype_name, "structures": structures, "seconds": elapsed, "structures_per_second": structures / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--size-gb", type=float, default=1.0, help="size of the HDF5 file before compression (default 1)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per measurement (default 20, quick 5)")
    parser.add_argument("--batch-size", type=int, default=5)
    args = parser.parse_args()
    if args.quick:
        args.size_gb = min(args.size_gb, 0.05)
        args.seconds = min(args.seconds, 5.0)
    import torch

    torch.set_num_threads(args.threads)
    path = WORK_ROOT / "data" / f"loading_{args.size_gb:g}gb.h5"
    output = args.out or WORK_ROOT / "results" / ("data_loading_quick.json" if args.quick else "data_loading.json")
    payload = {**header(sys.argv, ["molmtl"]), "batch_size": args.batch_size}
    print(f"[bench] preparing {path}", flush=True)
    payload["file"] = build_file(path, args.size_gb)
    print(f"[bench] file: {payload['file']['bytes'] / 1e9:.2f} GB", flush=True)

    rows = []
    for shuffle in (True, False):
        for workers in (0, 1, 2):
            row = loader_rate(path, workers, shuffle, args.batch_size, args.seconds)
            rows.append({"case": f"loader, {workers} workers, {'shuffled' if shuffle else 'file order'}", **row})
            print(f"[bench] {rows[-1]['case']}: {row['structures_per_second']:.0f} structures/s", flush=True)
    for dtype_name in ("float64", "float32"):
        row = consumption_rate(path, dtype_name, args.batch_size, args.seconds)
        rows.append({"case": f"model training step, {dtype_name}", **row})
        print(f"[bench] {rows[-1]['case']}: {row['structures_per_second']:.1f} structures/s", flush=True)
    payload["rows"] = rows
    table = format_table(rows, [("case", "case", ""), ("structures_per_second", "structures/s", ".1f"),
                                ("structures", "structures", "d"), ("seconds", "seconds", ".1f")])
    print(table)
    payload["table"] = table
    write_json(payload, output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
