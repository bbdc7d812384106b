"""Molecular training end to end on real ethanol frames: tasks, config, train, resume, eval."""

from __future__ import annotations

import csv
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import ase.io
import pytest
import torch
import yaml

import molmtl
from molmtl.cli.main import main
from molmtl.data.dataset import H5Dataset
from molmtl.data.writer import H5Writer
from molmtl.training.molecular.config import ConfigError, build_config, load_config
from molmtl.training.molecular.tasks import DipoleTask, EnergyPerAtomTask, ForcesTask

REPO_ROOT = Path(__file__).resolve().parents[1]
ETHANOL = "md_energy_forces/botnet_ethanol_rmd17/train.xyz"
CARBENE = "dipoles/schnetpack_spookynet_ag3_ch2/ase_carbene_2200.db"
TINY_MODEL = {
    "num_channels": 8,
    "l_max": 1,
    "num_layers": 1,
    "num_radial_basis": 6,
    "radial_mlp": [16],
    "readout_hidden": 8,
    "correlation_order": 2,
}


@pytest.fixture(scope="module")
def ethanol_h5(shared_data, tmp_path_factory) -> Path:
    frames = ase.io.read(shared_data / ETHANOL, index=":120")
    path = tmp_path_factory.mktemp("ethanol") / "ethanol120.h5"
    with H5Writer(path, provenance={"source": ETHANOL, "level_of_theory": "rMD17 DFT"}) as writer:
        writer.append_atoms(frames)
    return path


@pytest.fixture(scope="module")
def ethanol_without_forces(shared_data, tmp_path_factory) -> Path:
    frames = ase.io.read(shared_data / ETHANOL, index=":30")
    path = tmp_path_factory.mktemp("ethanol") / "ethanol_no_forces.h5"
    with H5Writer(path, provenance={"source": ETHANOL}) as writer:
        writer.append_atoms(frames, {"forces": None})
    return path


@pytest.fixture(scope="module")
def carbene_h5(shared_data, tmp_path_factory) -> Path:
    from molmtl.data.convert import convert_file
    from molmtl.data.reader import H5Reader

    folder = tmp_path_factory.mktemp("carbene")
    convert_file(shared_data / CARBENE, folder / "carbene_all.h5")
    reader = H5Reader(folder / "carbene_all.h5")
    path = folder / "carbene80.h5"
    with H5Writer(path, provenance={"source": CARBENE}) as writer:
        writer.append([reader[index] for index in range(80)])
    return path


def _write_config(folder: Path, **training) -> Path:
    settings = {"batch_size": 10, "lr": 0.01, "max_epochs": 1, "warmup_epochs": 0.2, "progress": False}
    settings.update(training)
    config = {
        "model": TINY_MODEL,
        "tasks": {"energy": 1.0, "forces": 10.0},
        "training": settings,
        "data": {"valid_fraction": 0.25},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def test_train_resume_eval_end_to_end(ethanol_h5, tmp_path, capsys):
    config = _write_config(tmp_path)
    run_dir = tmp_path / "run"
    assert main(["train", str(config), "--data", str(ethanol_h5), "--out", str(run_dir), "--seed", "3"]) == 0

    for name in ("config.yaml", "model.pt", "checkpoint.pt", "metrics.csv", "valid_errors.json"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tensorboard").iterdir())
    for plot in (
        "learning_curve_energy.png",
        "learning_curve_forces.png",
        "parity_energy_per_atom.png",
        "parity_forces.png",
    ):
        assert (run_dir / "plots" / plot).is_file(), plot

    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["seed"] == 3
    assert resolved["model"]["atomic_numbers"] == [1, 6, 8]
    assert resolved["statistics"]["avg_num_neighbors"] > 1.0
    model = molmtl.load_model(run_dir / "model.pt")
    assert model.config.avg_num_neighbors == pytest.approx(resolved["statistics"]["avg_num_neighbors"])
    assert model.config.energy_scale == pytest.approx(resolved["statistics"]["energy_scale"])
    assert model.config.energy_scale > 0.1, "energy scale should be the force RMS (eV/Angstrom)"

    # Resume to a second epoch: the metrics file continues without a gap or duplicate.
    assert main(["train", "--resume", str(run_dir), "--max-epochs", "2"]) == 0
    rows = _rows(run_dir / "metrics.csv")
    assert [row["epoch"] for row in rows] == ["1", "2"]
    for column in (
        "valid_energy_mae",
        "valid_energy_rmse",
        "valid_energy_count",
        "valid_forces_loss",
        "cos_energy__forces",
    ):
        assert column in rows[-1], column
        assert math.isfinite(float(rows[-1][column])), column
    assert float(rows[-1]["valid_energy_count"]) == 30
    assert float(rows[-1]["valid_forces_count"]) == 30 * 9 * 3

    capsys.readouterr()
    json_path = tmp_path / "errors.json"
    assert main(["eval", str(run_dir / "model.pt"), str(ethanol_h5), "--json", str(json_path)]) == 0
    printed = capsys.readouterr().out
    for quantity in ("energy", "energy_per_atom", "forces"):
        assert quantity in printed
    errors = json.loads(json_path.read_text())["errors"]
    assert errors["energy"]["count"] == 120
    assert errors["forces"]["count"] == 120 * 9 * 3
    assert errors["energy_per_atom"]["mae"] == pytest.approx(errors["energy"]["mae"] / 9, rel=1e-9)
    assert 0 < errors["forces"]["mae"] <= errors["forces"]["rmse"]


def test_dipole_task_end_to_end(carbene_h5, tmp_path, capsys):
    config = _write_config(tmp_path)
    run_dir = tmp_path / "run"
    arguments = ["train", str(config), "--data", str(carbene_h5), "--out", str(run_dir)]
    assert main([*arguments, "--tasks", "energy,forces=10,dipole=1", "--weighting", "gradnorm"]) == 0
    rows = _rows(run_dir / "metrics.csv")
    assert float(rows[-1]["valid_dipole_count"]) == 20 * 3
    assert math.isfinite(float(rows[-1]["valid_dipole_mae"]))
    assert "gradnorm_ratio_dipole" in rows[-1]
    assert (run_dir / "plots" / "parity_dipole.png").is_file()
    model = molmtl.load_model(run_dir / "model.pt")
    assert list(model.heads) == ["energy", "charges", "dipole"]

    capsys.readouterr()
    assert main(["eval", str(run_dir / "model.pt"), str(carbene_h5)]) == 0
    printed = capsys.readouterr().out
    assert "dipole_magnitude" in printed
    assert "charges" not in printed, "the file has no charge labels, so the table must not list charges"


def test_missing_forces_fail_before_training(ethanol_without_forces, tmp_path, capsys):
    config = _write_config(tmp_path)
    run_dir = tmp_path / "run"
    status = main(["train", str(config), "--data", str(ethanol_without_forces), "--out", str(run_dir)])
    message = capsys.readouterr().err
    assert status == 2
    assert "'forces'" in message
    assert "Labels found: energy" in message
    assert not (run_dir / "checkpoint.pt").exists()


def test_misspelt_key_suggests_nearest(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("training:\n  bach_size: 4\n")
    with pytest.raises(ConfigError, match="did you mean 'batch_size'"):
        load_config(path)
    with pytest.raises(ConfigError, match="did you mean 'forces'"):
        build_config({"tasks": {"force": 1.0}})
    with pytest.raises(ConfigError, match="did you mean 'lr'"):
        build_config({"training": {"learning_rate": 0.01}})
    with pytest.raises(ConfigError, match="did you mean 'training'"):
        build_config({"trainig": {}})


def test_tasks_flag_overrides_config(ethanol_h5, tmp_path, capsys):
    config = _write_config(tmp_path)
    status = main(
        [
            "train",
            str(config),
            "--data",
            str(ethanol_h5),
            "--out",
            str(tmp_path / "run"),
            "--tasks",
            "energy,dipole=2",
        ]
    )
    # The file has no dipoles, so asking for them must fail before training.
    assert status == 2
    assert "'dipole'" in capsys.readouterr().err


def test_masked_structures_ignored(ethanol_h5):
    from torch_geometric.data import Batch

    dataset = H5Dataset(ethanol_h5, cutoff=4.0)
    batch = Batch.from_data_list([dataset[0], dataset[1]])
    batch["energy_mask"] = torch.tensor([True, False])
    batch["forces_mask"] = torch.tensor([False, True])
    batch["dipole_mask"] = torch.tensor([False, False])
    outputs = {
        "energy": batch["energy"].reshape(-1) + torch.tensor([0.9, 1000.0], dtype=torch.float64),
        "forces": batch["forces"] + 0.5,
        "dipole": torch.zeros(2, 3, dtype=torch.float64, requires_grad=True),
    }
    energy = EnergyPerAtomTask("energy").evaluate(outputs, batch)
    assert int(energy.count) == 1
    assert float(energy.loss) == pytest.approx((0.9 / 9) ** 2)
    forces = ForcesTask("forces", loss="huber", huber_delta=0.1).evaluate(outputs, batch)
    assert int(forces.count) == 27
    assert float(forces.abs_error_sum) == pytest.approx(27 * 0.5)
    assert float(forces.loss) == pytest.approx(0.1 * (0.5 - 0.05))
    dipole = DipoleTask("dipole").evaluate(outputs, batch)
    assert int(dipole.count) == 0
    assert float(dipole.loss.detach()) == 0.0
    assert dipole.loss.requires_grad


@pytest.mark.slow
def test_torchrun_two_ranks_molecular(ethanol_h5, tmp_path):
    config = _write_config(tmp_path, max_epochs=2)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(port),
            "-m",
            "molmtl",
            "train",
            str(config),
            "--data",
            str(ethanol_h5),
            "--out",
            str(tmp_path / "ddp"),
            "--device",
            "cpu",
        ],
        env=environment,
        cwd=REPO_ROOT,
        check=True,
        timeout=600,
    )
    rows = _rows(tmp_path / "ddp" / "metrics.csv")
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert float(rows[-1]["train_energy_count"]) == 90
    assert molmtl.load_model(tmp_path / "ddp" / "model.pt") is not None


def test_auto_tasks_follow_labels(ethanol_without_forces):
    from molmtl.training.molecular.run import resolve_auto_tasks

    config = build_config({"data": {"train": str(ethanol_without_forces)}})
    assert config["tasks"] == "auto"
    resolved = resolve_auto_tasks(config, H5Dataset(ethanol_without_forces, cutoff=4.0))
    assert list(resolved["tasks"]) == ["energy"]
