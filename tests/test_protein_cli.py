"""``molmtl protein`` labels, train, eval and predict end to end on a few real chains."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml

from molmtl.cli.main import main


def test_protein_cli_end_to_end(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "protein_ss_rsa"
    pdb_dir = tmp_path / "pdb"
    pdb_dir.mkdir()
    for name in ("1ahsA", "1bvyF", "1dx5I", "1h4aX"):
        shutil.copy(source / "ts50_pdb_dssp" / "pdb" / f"{name}.pdb", pdb_dir)

    labels = tmp_path / "labels.csv"
    assert main(["protein", "labels", str(pdb_dir), "-o", str(labels)]) == 0
    with open(labels, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["id"] for row in rows] == ["1ahsA", "1bvyF", "1dx5I", "1h4aX"]
    assert all(len(row["dssp8"]) == len(row["input"]) for row in rows)

    # Secondary-structure-only chains (CB513) train together with the derived labels.
    cb513 = tmp_path / "cb513_small.csv"
    with open(source / "cb513_netsurfp_csv" / "CB513.csv", newline="") as stream:
        lines = stream.read().splitlines()[:9]
    cb513.write_text("\n".join(lines) + "\n")
    config = {
        "data": {"train": [{"path": "labels.csv"}, {"path": "cb513_small.csv"}], "valid_fraction": 0.25},
        "model": {"encoder": "bilstm", "hidden": 16, "layers": 1, "window": 64},
        "tasks": {"ss8": 1.0, "rsa": 1.0, "buried": 0.5},
        "weighting": "uncertainty",
        "trainer": {"max_epochs": 2, "batch_size": 8, "progress": False, "tensorboard": False, "plots": False},
        "run_dir": "run",
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["protein", "train", str(tmp_path / "config.yaml")]) == 0
    model = tmp_path / "run" / "model.pt"
    assert model.exists()
    assert (tmp_path / "run" / "metrics.csv").exists()

    metrics_file = tmp_path / "metrics.json"
    assert main(["protein", "eval", str(model), str(source / "ts50_pdb_dssp" / "dssp"), "-o", str(metrics_file)]) == 0
    metrics = json.loads(metrics_file.read_text())
    for key in ("q3", "q8", "sov3", "rsa_pearson_r", "rsa_mae", "buried_exposed_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0 or key == "rsa_pearson_r", key
    assert metrics["residues_ss8"] == 6860

    fasta = tmp_path / "seqs.fasta"
    fasta.write_text(">short\nMKTAYIAKQRqisfvkshfsrqXBZU\n>long\n" + "ACDEFGHIKLMNPQRSTVWY" * 8 + "\n")
    predictions = tmp_path / "out.csv"
    assert main(["protein", "predict", str(model), str(fasta), "-o", str(predictions)]) == 0
    with open(predictions, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 26 + 160  # the long chain spans several 64-residue windows
    first = rows[0]
    assert first["ss3"] in "HEC"
    assert first["ss8"] in "HGIEBTSC"
    assert sum(float(first[f"p_ss8_{s}"]) for s in "HGIEBTSC") == pytest.approx(1.0, abs=1e-3)
    assert 0.0 <= float(first["rsa"]) <= 1.0
    assert first["exposure"] in ("buried", "exposed")


def test_protein_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protein", "eval", str(tmp_path / "missing.pt"), str(tmp_path)]) == 2
    assert "model file not found" in capsys.readouterr().err
    config = tmp_path / "c.yaml"
    config.write_text("data: {train: []}\n")
    assert main(["protein", "train", str(config)]) == 2
    assert "at least one training source" in capsys.readouterr().err
