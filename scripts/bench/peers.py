"""Train MACE and NequIP with their own command-line tools for a fixed wall-clock budget.

Both peers run as subprocesses in their own environments (``.venv-peers/mace`` and
``.venv-peers/nequip``, made by ``setup_peers.sh``), with hyperparameters matched to
molmtl's :class:`~molmtl.nn.config.ModelConfig` defaults (:data:`MATCHED`).

Wall-clock limits:

* NequIP trains under ``lightning.Trainer(max_time=...)``, Lightning's own time limit,
  which counts from the start of the training loop.
* ``mace_run_train`` has no time limit. The driver starts the clock when MACE logs
  "Started training" and sends SIGINT when the budget is spent. It deletes checkpoints of
  epochs that ended later, then runs ``mace_run_train --restart_latest`` with
  ``--max_num_epochs`` equal to the last saved epoch. MACE itself then loads that checkpoint
  (the EMA weights of the best validation epoch within the budget) and writes the
  ``.model`` file without training further.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from systems import ENERGY_KEY, FORCES_KEY, REPO_ROOT

PEER_ROOT = REPO_ROOT / ".venv-peers"

#: Architecture shared by the three codes (molmtl ModelConfig defaults).
MATCHED = {
    "num_channels": 32,
    "l_max": 1,
    "num_layers": 2,
    "cutoff": 5.0,
    "num_radial_basis": 8,
    "envelope_exponent": 6,
    "correlation_order": 3,
    "radial_mlp": [64, 64],
    "readout_hidden": 16,
}


def peer_bin(peer: str, program: str) -> Path:
    """Return the path of ``program`` inside the environment of ``peer``."""
    path = PEER_ROOT / peer / "bin" / program
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run `bash scripts/bench/setup_peers.sh {peer}` first")
    return path


def thread_env(threads: int) -> dict[str, str]:
    """Return the environment for a subprocess that may use ``threads`` CPU threads."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    env["MKL_NUM_THREADS"] = str(threads)
    return env


@dataclass
class TrainResult:
    """Location of a trained model, with its training-loop time and epoch count."""

    code: str
    model_path: Path
    train_seconds: float
    epochs: int
    log_path: Path
    extra_models: dict[str, Path]


# ---------------------------------------------------------------------------------------
# MACE
# ---------------------------------------------------------------------------------------


def mace_arguments(split: dict, work_dir: Path, name: str, batch_size: int, dtype: str, seed: int) -> list[str]:
    """Return the ``mace_run_train`` arguments for the matched architecture."""
    e0s = "{" + ", ".join(f"{z}: {energy}" for z, energy in split["e0s"].items()) + "}"
    return [
        f"--name={name}",
        f"--work_dir={work_dir}",
        f"--seed={seed}",
        f"--train_file={split['paths']['train']}",
        f"--valid_file={split['paths']['valid']}",
        f"--energy_key={ENERGY_KEY}",
        f"--forces_key={FORCES_KEY}",
        f"--E0s={e0s}",
        "--model=MACE",
        f"--num_channels={MATCHED['num_channels']}",
        f"--max_L={MATCHED['l_max']}",
        f"--max_ell={MATCHED['l_max']}",
        f"--correlation={MATCHED['correlation_order']}",
        f"--num_interactions={MATCHED['num_layers']}",
        f"--r_max={MATCHED['cutoff']}",
        f"--num_radial_basis={MATCHED['num_radial_basis']}",
        f"--num_cutoff_basis={MATCHED['envelope_exponent']}",
        f"--radial_MLP={MATCHED['radial_mlp']}",
        f"--MLP_irreps={MATCHED['readout_hidden']}x0e",
        f"--batch_size={batch_size}",
        "--valid_batch_size=10",
        f"--default_dtype={dtype}",
        "--device=cpu",
        "--lr=0.01",
        "--ema",
        "--ema_decay=0.99",
        "--amsgrad",
        "--energy_weight=1",
        "--forces_weight=100",
        "--eval_interval=1",
        "--num_workers=0",
        "--plot=False",
        # Every improved epoch keeps its checkpoint, so the last one saved within the budget survives.
        "--keep_checkpoints",
        "--skip_evaluate_heads=Default",
    ]


def _wait_for_line(log_path: Path, pattern: str, process: subprocess.Popen, timeout: float) -> float:
    """Block until ``pattern`` appears in ``log_path``; return the time.monotonic() of that moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_path.exists() and pattern in log_path.read_text(errors="replace"):
            return time.monotonic()
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before '{pattern}'; see {log_path}")
        time.sleep(0.2)
    raise TimeoutError(f"'{pattern}' did not appear in {log_path} within {timeout:.0f} s")


def _stop(process: subprocess.Popen) -> None:
    """Wait for a process sent SIGINT; escalate to SIGTERM, then SIGKILL, if it does not exit."""
    for follow_up in (signal.SIGTERM, signal.SIGKILL):
        try:
            process.wait(timeout=120)
            return
        except subprocess.TimeoutExpired:
            process.send_signal(follow_up)
    process.wait()


def train_mace(
    split: dict, work_dir: Path, budget_seconds: float, batch_size: int = 5, dtype: str = "float32",
    threads: int = 2, seed: int = 0,
) -> TrainResult:
    """Train MACE for ``budget_seconds`` of training-loop time; return the model path."""
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    name = "mace"
    arguments = mace_arguments(split, work_dir, name, batch_size, dtype, seed)
    program = str(peer_bin("mace", "mace_run_train"))
    log_path = work_dir / "train.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [program, *arguments, "--max_num_epochs=100000", "--patience=100000"],
            stdout=log, stderr=subprocess.STDOUT, env=thread_env(threads), cwd=work_dir,
            # A shell without job control starts background jobs with SIGINT ignored, and
            # Python keeps it ignored; restore the default so that SIGINT stops MACE.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        started = _wait_for_line(log_path, "Started training", process, timeout=600)
        try:
            process.wait(timeout=budget_seconds)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
        train_seconds = time.monotonic() - started
        epochs_done = len(re.findall(r"INFO: Epoch \d+:", log_path.read_text(errors="replace")))
        _stop(process)

    # Checkpoints of epochs that ended after the budget do not count.
    for checkpoint in (work_dir / "checkpoints").glob(f"{name}_run-{seed}_epoch-*.pt"):
        if int(re.search(r"epoch-(\d+)\.pt$", checkpoint.name).group(1)) >= epochs_done:
            checkpoint.unlink()

    checkpoints = sorted(
        (work_dir / "checkpoints").glob(f"{name}_run-{seed}_epoch-*.pt"),
        key=lambda path: int(re.search(r"epoch-(\d+)\.pt$", path.name).group(1)),
    )
    if not checkpoints:
        raise RuntimeError(f"MACE saved no checkpoint within {budget_seconds:.0f} s; see {log_path}")
    last_epoch = int(re.search(r"epoch-(\d+)\.pt$", checkpoints[-1].name).group(1))

    finalize_log = work_dir / "finalize.log"
    with open(finalize_log, "w") as log:
        subprocess.run(
            [program, *arguments, f"--max_num_epochs={last_epoch}", "--restart_latest"],
            stdout=log, stderr=subprocess.STDOUT, env=thread_env(threads), cwd=work_dir, check=True,
        )
    model_path = work_dir / f"{name}.model"
    if not model_path.exists():
        raise RuntimeError(f"MACE wrote no {model_path}; see {finalize_log}")
    return TrainResult("mace", model_path, train_seconds, epochs_done, log_path, {})


# ---------------------------------------------------------------------------------------
# NequIP
# ---------------------------------------------------------------------------------------


def _symbols(numbers: list[int]) -> list[str]:
    from ase.data import chemical_symbols

    return [chemical_symbols[z] for z in numbers]


def nequip_config(split: dict, work_dir: Path, budget_seconds: float, batch_size: int, dtype: str, seed: int) -> dict:
    """Return a ``nequip-train`` config for the matched architecture."""
    types = _symbols(split["elements"])
    e0s = {symbol: split["e0s"][str(z)] for symbol, z in zip(types, split["elements"])}
    budget = int(round(budget_seconds))
    max_time = f"00:{budget // 3600:02d}:{budget % 3600 // 60:02d}:{budget % 60:02d}"
    loader = {"_target_": "torch.utils.data.DataLoader", "batch_size": batch_size}
    return {
        "run": ["train"],
        "seed": seed,
        "cutoff_radius": MATCHED["cutoff"],
        "model_type_names": types,
        "data": {
            "_target_": "nequip.data.datamodule.ASEDataModule",
            "seed": seed,
            "train_file_path": split["paths"]["train"],
            "val_file_path": split["paths"]["valid"],
            "ase_args": {"format": "extxyz"},
            "key_mapping": {ENERGY_KEY: "total_energy", FORCES_KEY: "forces"},
            "transforms": [
                {
                    "_target_": "nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper",
                    "model_type_names": types,
                    "chemical_species_to_atom_type_map": {symbol: symbol for symbol in types},
                },
                {"_target_": "nequip.data.transforms.NeighborListTransform", "r_max": MATCHED["cutoff"]},
            ],
            "train_dataloader": {**loader, "shuffle": True},
            "val_dataloader": {**loader, "batch_size": 10},
            "stats_manager": {
                "_target_": "nequip.data.CommonDataStatisticsManager",
                "type_names": types,
                "dataloader_kwargs": {"batch_size": 10},
            },
        },
        "trainer": {
            "_target_": "lightning.Trainer",
            "accelerator": "cpu",
            "max_epochs": 100000,
            "max_time": max_time,
            "check_val_every_n_epoch": 1,
            "log_every_n_steps": 50,
            "enable_progress_bar": False,
            "logger": {"_target_": "lightning.pytorch.loggers.CSVLogger", "save_dir": str(work_dir), "name": "csv"},
            "callbacks": [
                {
                    "_target_": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "monitor": "val0_epoch/weighted_sum",
                    "dirpath": str(work_dir),
                    "filename": "best",
                    "save_top_k": 1,
                    "save_last": False,
                },
            ],
        },
        "training_module": {
            "_target_": "nequip.train.EMALightningModule",
            "ema_decay": 0.99,
            "loss": {
                "_target_": "nequip.train.EnergyForceLoss",
                "per_atom_energy": True,
                "coeffs": {"total_energy": 1.0, "forces": 1.0},
            },
            "val_metrics": {
                "_target_": "nequip.train.EnergyForceMetrics",
                "coeffs": {"total_energy_mae": 1.0, "forces_mae": 1.0},
            },
            "optimizer": {"_target_": "torch.optim.Adam", "lr": 0.01, "amsgrad": True},
            "lr_scheduler": {
                "scheduler": {
                    "_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
                    "factor": 0.6,
                    "patience": 10,
                    "threshold": 0.01,
                    "min_lr": 1e-5,
                },
                "monitor": "val0_epoch/weighted_sum",
                "interval": "epoch",
                "frequency": 1,
            },
            "model": {
                "_target_": "nequip.model.NequIPGNNModel",
                "seed": seed,
                "model_dtype": dtype,
                "type_names": types,
                "r_max": MATCHED["cutoff"],
                "l_max": MATCHED["l_max"],
                # parity=False gives 0e + 1o features, the irreps molmtl uses at l_max 1.
                "parity": False,
                "num_layers": MATCHED["num_layers"],
                "num_features": MATCHED["num_channels"],
                "num_bessels": MATCHED["num_radial_basis"],
                "polynomial_cutoff_p": MATCHED["envelope_exponent"],
                "radial_mlp_depth": len(MATCHED["radial_mlp"]),
                "radial_mlp_width": MATCHED["radial_mlp"][0],
                "readout_mlp_hidden_layers_depth": 1,
                "readout_mlp_hidden_layers_width": MATCHED["readout_hidden"],
                "avg_num_neighbors": "${training_data_stats:num_neighbors_mean}",
                "per_type_energy_shifts": e0s,
                "per_type_energy_scales": "${training_data_stats:forces_rms}",
                "per_type_energy_scales_trainable": False,
                "per_type_energy_shifts_trainable": False,
            },
        },
    }


def train_nequip(
    split: dict, work_dir: Path, budget_seconds: float, batch_size: int = 5, dtype: str = "float32",
    threads: int = 2, seed: int = 0, aotinductor: bool = True,
) -> TrainResult:
    """Train NequIP under Lightning's ``max_time``; optionally compile the best checkpoint.

    The returned ``model_path`` is the best checkpoint (run eagerly); with ``aotinductor``
    ``extra_models["aotinductor"]`` is the ``nequip-compile --mode aotinductor --target ase``
    file, NequIP's recommended form for MD. nequip 0.19 with torch >= 2.10 rejects
    ``--mode torchscript``.
    """
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    config = nequip_config(split, work_dir, budget_seconds, batch_size, dtype, seed)
    (work_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    log_path = work_dir / "train.log"
    started = time.monotonic()
    with open(log_path, "w") as log:
        subprocess.run(
            [
                str(peer_bin("nequip", "nequip-train")), "-cp", str(work_dir), "-cn", "config",
                f"hydra.run.dir={work_dir / 'hydra'}",
            ],
            stdout=log, stderr=subprocess.STDOUT, env=thread_env(threads), cwd=work_dir, check=True,
        )
    process_seconds = time.monotonic() - started
    checkpoint = work_dir / "best.ckpt"
    if not checkpoint.exists():
        raise RuntimeError(f"NequIP wrote no {checkpoint}; see {log_path}")
    train_seconds, epochs = _nequip_loop_time(work_dir, process_seconds)
    extra = {"aotinductor": compile_nequip(checkpoint, threads)} if aotinductor else {}
    return TrainResult("nequip", checkpoint, train_seconds, epochs, log_path, extra)


def compile_nequip(checkpoint: Path, threads: int = 2) -> Path:
    """Compile a NequIP checkpoint with AOTInductor for the ASE calculator; return the file."""
    output = checkpoint.with_name(checkpoint.stem + ".nequip.pt2")
    command = [
        str(peer_bin("nequip", "nequip-compile")), str(checkpoint), str(output),
        "--mode", "aotinductor", "--device", "cpu", "--target", "ase",
    ]
    with open(checkpoint.with_name("compile_aotinductor.log"), "w") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=thread_env(threads), cwd=checkpoint.parent, check=True)
    return output


def _nequip_loop_time(work_dir: Path, fallback_seconds: float) -> tuple[float, int]:
    """Return the seconds between NequIP's "TRAIN RUN START" and "TRAIN RUN END" log lines and the epochs run."""
    import csv
    import datetime

    stamps = {}
    for line in (work_dir / "train.log").read_text(errors="replace").splitlines():
        for marker in ("TRAIN RUN START", "TRAIN RUN END"):
            if marker in line and line.startswith("["):
                stamps[marker] = datetime.datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
    seconds = fallback_seconds
    if len(stamps) == 2:
        seconds = (stamps["TRAIN RUN END"] - stamps["TRAIN RUN START"]).total_seconds()
    epochs = -1
    for metrics in sorted((work_dir / "csv").glob("version_*/metrics.csv")):
        with open(metrics) as stream:
            rows = list(csv.DictReader(stream))
        epochs = max((int(row["epoch"]) for row in rows if row.get("epoch")), default=-1) + 1
    return seconds, epochs


def dump(result: TrainResult) -> dict:
    """Return ``result`` as JSON-ready values."""
    return {
        "code": result.code,
        "model_path": str(result.model_path),
        "train_seconds": result.train_seconds,
        "epochs": result.epochs,
        "log_path": str(result.log_path),
        "extra_models": {name: str(path) for name, path in result.extra_models.items()},
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Train one peer on one prepared split (for debugging).")
    parser.add_argument("peer", choices=["mace", "nequip"])
    parser.add_argument("split", help="split.json written by systems.prepare_split")
    parser.add_argument("work_dir")
    parser.add_argument("--budget", type=float, default=60.0, help="training-loop seconds")
    parser.add_argument("--threads", type=int, default=2)
    options = parser.parse_args()
    manifest = json.loads(Path(options.split).read_text())
    train = train_mace if options.peer == "mace" else train_nequip
    print(json.dumps(dump(train(manifest, Path(options.work_dir), options.budget, threads=options.threads)), indent=2))
