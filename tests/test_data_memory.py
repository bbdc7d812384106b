"""Memory of ``H5Dataset`` stays flat while it reads every structure of a file larger than 1 GB."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import psutil
import pytest

from molmtl.data import keys
from molmtl.data.dataset import H5Dataset
from molmtl.data.structure import Structure
from molmtl.data.writer import H5Writer

ATOMS_PER_STRUCTURE = 2000
TARGET_BYTES = 1.05e9


def _write_large_file(path: Path) -> int:
    """Write jittered-lattice clusters with random labels until the file exceeds TARGET_BYTES."""
    rng = np.random.default_rng(0)
    side = int(np.ceil(ATOMS_PER_STRUCTURE ** (1 / 3)))
    grid = (
        np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)[
            :ATOMS_PER_STRUCTURE
        ]
        * 1.6
    )
    numbers = rng.choice([1, 6, 7, 8], size=ATOMS_PER_STRUCTURE)
    count = 0
    with H5Writer(path, provenance={"source": "synthetic memory test"}, validate=False) as writer:
        while True:
            batch = [
                Structure(
                    numbers,
                    grid + rng.uniform(-0.3, 0.3, size=grid.shape),
                    energy=float(rng.normal()),
                    forces=rng.normal(size=grid.shape),
                    charges=rng.normal(size=ATOMS_PER_STRUCTURE),
                    dipole=rng.normal(size=3),
                )
                for _ in range(100)
            ]
            writer.append(batch)
            count += len(batch)
            writer._file.flush()
            if os.path.getsize(writer._file.filename) > TARGET_BYTES:
                break
    return count


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_memory_flat_on_large_file(tmp_path: Path) -> None:
    path = tmp_path / "large.h5"
    count = _write_large_file(path)
    size = path.stat().st_size
    assert size > 1e9

    process = psutil.Process()
    dataset = H5Dataset(path, cutoff=3.0)
    order = np.random.default_rng(1).permutation(len(dataset))
    warmup = 200
    edges = 0
    for item in order[:warmup]:
        edges += dataset[int(item)][keys.EDGE_INDEX].shape[1]
    baseline = process.memory_info().rss
    peak = baseline
    for step, item in enumerate(order[warmup:]):
        edges += dataset[int(item)][keys.EDGE_INDEX].shape[1]
        if step % 50 == 0:
            peak = max(peak, process.memory_info().rss)
    peak = max(peak, process.memory_info().rss)
    growth = peak - baseline
    print(
        f"\nfile {size / 1e9:.2f} GB, {count} structures of {ATOMS_PER_STRUCTURE} atoms; RSS after "
        f"{warmup} items "
        f"{baseline / 2**20:.0f} MiB, peak over all {len(dataset)} items {peak / 2**20:.0f} MiB, growth "
        f"{growth / 2**20:.1f} MiB; "
        f"{edges / (count * ATOMS_PER_STRUCTURE):.1f} neighbours per atom"
    )
    assert count == len(dataset)
    assert growth < 64 * 2**20
