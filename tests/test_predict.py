"""molmtl.predict and ``molmtl predict``: SMILES, extxyz and HDF5 input, batching, outputs, errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.io import read, write

import molmtl
from molmtl.calculators import MolMTLCalculator
from molmtl.cli.main import main
from molmtl.data.writer import H5Writer
from molmtl.nn.config import ModelConfig
from molmtl.nn.model import MolMTLModel
from molmtl.nn.serialization import save_model
from molmtl.prediction import SUMMARY_COLUMNS, predict, read_smiles_file, relax_structures

SMALL_MODEL = dict(num_channels=8, l_max=1, num_layers=1, correlation_order=1, radial_mlp=[16], readout_hidden=8)

TWENTY_SMILES = """\
# twenty small organic molecules (C, H, N, O)
C methane
CC ethane
CCO ethanol
CO methanol
C=O formaldehyde
CC(=O)O acetic_acid
CC(C)=O acetone
c1ccccc1 benzene
Oc1ccccc1 phenol
CCN ethylamine
CC#N acetonitrile
NC(=O)N urea
C1CCCCC1 cyclohexane
CCCC butane
OCCO ethylene_glycol
C1CCOC1 tetrahydrofuran
c1ccncc1 pyridine
CC(=O)OC methyl_acetate
CNC(C)=O n_methylacetamide
O=C=O carbon_dioxide
"""


def make_model(seed: int = 0) -> MolMTLModel:
    torch.manual_seed(seed)
    config = ModelConfig(atomic_numbers=[1, 6, 7, 8], cutoff=4.0, dtype="float64", energy_scale=0.1, **SMALL_MODEL)
    return MolMTLModel(config).eval()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model(make_model(), path)
    return path


@pytest.fixture()
def smiles_file(tmp_path):
    path = tmp_path / "molecules.smi"
    path.write_text(TWENTY_SMILES)
    return path


def read_csv(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def test_predict_smiles_cli_csv(tmp_path, model_file, smiles_file):
    table, structures = tmp_path / "out.csv", tmp_path / "out.extxyz"
    status = main(["predict", str(model_file), str(smiles_file), "-o", str(table),
                   "--structures-out", str(structures), "--batch-size", "6", "--no-progress"])
    assert status == 0

    rows = read_csv(table)
    assert len(rows) == 20
    assert tuple(rows[0]) == SUMMARY_COLUMNS
    assert [row["name"] for row in rows[:3]] == ["methane", "ethane", "ethanol"]
    assert rows[0]["formula"] == "CH4"

    frames = read(structures, index=":")
    assert len(frames) == 20
    # extxyz stores 8 decimals, so the table and the frames agree to about 1e-8 relative.
    for row, frame in zip(rows, frames):
        assert float(row["energy_eV"]) == pytest.approx(frame.get_potential_energy(), rel=1e-6)
        assert float(row["energy_per_atom_eV"]) == pytest.approx(frame.get_potential_energy() / len(frame), rel=1e-6)
        assert frame.get_forces().shape == (len(frame), 3)
        assert frame.get_charges().shape == (len(frame),)
        assert float(row["dipole_norm_eA"]) == pytest.approx(np.linalg.norm(frame.get_dipole_moment()), rel=1e-6)
        assert float(row["max_force_eV_A"]) == pytest.approx(np.linalg.norm(frame.get_forces(), axis=1).max(), rel=1e-6)


def test_batched_matches_single_calculator(smiles_file):
    model = make_model()
    structures = read_smiles_file(smiles_file)
    predictions = predict(model, structures, batch_size=7)
    calculator = MolMTLCalculator(model, skin=0.0)
    for prediction in predictions[::4]:
        atoms = prediction.atoms.copy()
        atoms.calc = calculator
        assert prediction.energy == pytest.approx(atoms.get_potential_energy(), abs=1e-9)
        np.testing.assert_allclose(prediction.forces, atoms.get_forces(), atol=1e-9)
        np.testing.assert_allclose(prediction.dipole, atoms.get_dipole_moment(), atol=1e-9)


def test_predict_json_and_charge(tmp_path, model_file):
    path = tmp_path / "ions.smi"
    path.write_text("C[NH3+] methylammonium\nCC(=O)[O-] acetate\n")
    table = tmp_path / "out.json"
    assert main(["predict", str(model_file), str(path), "-o", str(table), "--structures-out", "", "--no-progress"]) == 0

    content = json.loads(table.read_text())
    assert content["units"]["energy"] == "eV"
    assert [row["name"] for row in content["structures"]] == ["methylammonium", "acetate"]
    assert not (tmp_path / "predictions.extxyz").exists()

    import molmtl.prediction

    assert molmtl.predict is molmtl.prediction.predict
    predictions = molmtl.predict(str(model_file), str(path))
    assert predictions[0].charges.sum() == pytest.approx(1.0, abs=1e-8)
    assert predictions[1].charges.sum() == pytest.approx(-1.0, abs=1e-8)


def test_predict_extxyz_input(tmp_path, model_file):
    path = tmp_path / "in.extxyz"
    write(path, [molecule("CH3CH2OH"), molecule("H2O"), molecule("NH3")])
    predictions = predict(str(model_file), str(path), batch_size=2)
    assert [len(prediction.atoms) for prediction in predictions] == [9, 3, 4]
    assert [prediction.index for prediction in predictions] == [0, 1, 2]


def test_predict_hdf5_from_public_ethanol(tmp_path, model_file, shared_data):
    source = shared_data / "md_energy_forces" / "botnet_ethanol_rmd17" / "test_MD.xyz"
    frames = read(source, index=":40")
    path = tmp_path / "ethanol.h5"
    with H5Writer(path, provenance={"source": str(source), "level_of_theory": "rMD17 DFT", "command": "test"}) as writer:
        writer.append_atoms(frames)

    table = tmp_path / "out.csv"
    assert main(["predict", str(model_file), str(path), "-o", str(table), "--structures-out", "", "--no-progress"]) == 0
    rows = read_csv(table)
    assert len(rows) == 40
    assert {row["formula"] for row in rows} == {"C2H6O"}
    assert all(np.isfinite(float(row["energy_eV"])) for row in rows)


def test_predict_embedded_hdf5(tmp_path, model_file):
    from tests.conftest import EMBEDDED_DATASET

    table = tmp_path / "out.csv"
    status = main(["predict", str(model_file), str(EMBEDDED_DATASET), "-o", str(table),
                   "--structures-out", str(tmp_path / "out.extxyz"), "--batch-size", "64", "--no-progress"])
    assert status == 0
    rows = read_csv(table)
    assert len(rows) > 100
    assert all(np.isfinite(float(row["max_force_eV_A"])) for row in rows)


def test_relax_lowers_forces(smiles_file):
    model = make_model()
    structures = read_smiles_file(smiles_file)[:3]
    before = predict(model, structures)
    relaxed = relax_structures(structures, model, fmax=0.05, steps=300)
    after = predict(model, relaxed)
    for old, new, atoms in zip(before, after, relaxed):
        assert np.abs(new.forces).max() < np.abs(old.forces).max()
        assert new.energy < old.energy
        assert "relax_converged" in atoms.info


def test_predict_unknown_element_names_structure(model_file):
    structures = [molecule("H2O"), molecule("CH3Cl")]
    with pytest.raises(ValueError, match=r"structure 1 \(CH3Cl\) contains atomic numbers \[17\]"):
        predict(str(model_file), structures)


def test_predict_nan_position_names_structure(model_file):
    bad = molecule("H2O")
    bad.positions[2, 0] = np.nan
    with pytest.raises(ValueError, match="structure 1 .*non-finite position"):
        predict(str(model_file), [molecule("NH3"), bad])


def test_smiles_errors_name_line(tmp_path):
    path = tmp_path / "bad.smi"
    path.write_text("CCO ethanol\nC1CC( broken\n")
    with pytest.raises(ValueError, match="line 2: RDKit cannot parse"):
        read_smiles_file(path)


def test_predict_missing_input(model_file, tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        predict(str(model_file), str(tmp_path / "missing.smi"))
