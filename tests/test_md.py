"""MD driver: NVE conservation, thermostat, barostat, output files, stability guard and the CLI."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule
from ase.io import read
from tblite.ase import TBLite

from molmtl.calculators import MolMTLCalculator
from molmtl.cli.main import main
from molmtl.md import MDSettings, energy_conservation_from_log, run_md
from molmtl.md.log_csv import BASE_COLUMNS, VOLUME_COLUMN
from molmtl.nn.config import ModelConfig
from molmtl.nn.model import MolMTLModel
from molmtl.nn.serialization import save_model
from structures import water_box

SMALL_MODEL = dict(num_channels=8, l_max=1, num_layers=1, correlation_order=1, radial_mlp=[16], readout_hidden=8)


def make_model(seed: int = 0, energy_scale: float = 1.0) -> MolMTLModel:
    """A random small float64 model: smooth and conservative, though not physical."""
    torch.manual_seed(seed)
    config = ModelConfig(atomic_numbers=[1, 6, 8], cutoff=3.0, dtype="float64", energy_scale=energy_scale, **SMALL_MODEL)
    return MolMTLModel(config)


def read_log(path) -> dict[str, np.ndarray]:
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    return {key: np.array([float(row[key]) for row in rows]) for key in rows[0]}


def exploding_water() -> Atoms:
    """Water with both hydrogens 0.3 Å from the oxygen: the repulsion launches them on the first step."""
    return Atoms("OHH", positions=[[0.0, 0.0, 0.0], [0.3, 0.0, 0.0], [0.0, 0.3, 0.0]])


def test_nve_conserves_energy_short(tmp_path):
    atoms = molecule("CH3CH2OH")
    settings = MDSettings(ensemble="nve", steps=200, timestep=0.5, temperature=100.0, stride=2, seed=3)
    # energy_scale=0.1 keeps the random potential gentle enough that the molecule stays below ~1000 K.
    calculator = MolMTLCalculator(make_model(energy_scale=0.1))
    result = run_md(atoms, calculator, settings, log=tmp_path / "nve.csv", progress=False)
    assert result.completed

    conservation = energy_conservation_from_log(tmp_path / "nve.csv", len(atoms))
    assert abs(conservation.drift) < 1.0, conservation.summary()
    assert conservation.total_std < 0.01 * conservation.kinetic_std, conservation.summary()


def test_md_writes_trajectory_and_log(tmp_path):
    atoms = molecule("H2O")
    settings = MDSettings(ensemble="nve", steps=20, timestep=0.5, temperature=300.0, stride=5)
    result = run_md(
        atoms, TBLite(verbosity=0), settings, trajectory=tmp_path / "md.extxyz", log=tmp_path / "md.csv", progress=False
    )
    assert result.completed
    assert result.frames_written == 5

    frames = read(tmp_path / "md.extxyz", index=":")
    assert len(frames) == 5
    assert [frame.info["time_fs"] for frame in frames] == [0.0, 2.5, 5.0, 7.5, 10.0]
    for frame in frames:
        assert frame.get_forces().shape == (3, 3)
        assert np.isfinite(frame.get_potential_energy())
        assert frame.get_dipole_moment().shape == (3,)
        assert frame.has("momenta")

    log = read_log(tmp_path / "md.csv")
    assert tuple(log) == BASE_COLUMNS
    assert log["step"].tolist() == [0, 5, 10, 15, 20]
    np.testing.assert_allclose(log["total_energy_eV"], log["potential_energy_eV"] + log["kinetic_energy_eV"], atol=1e-8)
    np.testing.assert_allclose(log["dipole_x_eA"], [frame.get_dipole_moment()[0] for frame in frames], atol=1e-8)


def test_nvt_holds_temperature(tmp_path):
    atoms = molecule("CH3CH2OH")
    settings = MDSettings(ensemble="nvt", steps=800, timestep=0.5, temperature=300.0, friction=0.05, stride=4, seed=2)
    result = run_md(atoms, TBLite(verbosity=0), settings, log=tmp_path / "nvt.csv", progress=False)
    assert result.completed

    temperature = read_log(tmp_path / "nvt.csv")["temperature_K"]
    mean = temperature[len(temperature) // 2 :].mean()
    assert 180.0 < mean < 420.0


def test_npt_changes_volume_isotropically(tmp_path):
    atoms = water_box()
    start_cell = atoms.cell.array.copy()
    settings = MDSettings(
        ensemble="npt", steps=30, timestep=0.5, temperature=300.0, friction=0.02, barostat_time=20.0, stride=5
    )
    result = run_md(atoms, MolMTLCalculator(make_model()), settings, log=tmp_path / "npt.csv", progress=False)
    assert result.completed

    log = read_log(tmp_path / "npt.csv")
    assert VOLUME_COLUMN in log
    assert log[VOLUME_COLUMN][0] == pytest.approx(abs(np.linalg.det(start_cell)))
    assert abs(log[VOLUME_COLUMN][-1] - log[VOLUME_COLUMN][0]) > 1e-6
    ratio = atoms.cell.array / start_cell[0, 0]
    np.testing.assert_allclose(ratio, np.eye(3) * ratio[0, 0], atol=1e-10)


def test_npt_rejects_molecule():
    with pytest.raises(ValueError, match="NPT needs a structure periodic"):
        run_md(molecule("H2O"), TBLite(verbosity=0), MDSettings(ensemble="npt", steps=1), progress=False)


def test_guard_stops_exploding_start(tmp_path):
    atoms = exploding_water()
    settings = MDSettings(ensemble="nve", steps=50, timestep=0.5, temperature=10.0, stride=1)
    result = run_md(
        atoms, TBLite(verbosity=0), settings, trajectory=tmp_path / "x.extxyz", log=tmp_path / "x.csv", progress=False
    )
    assert not result.completed
    assert "temperature jumped" in result.instability
    assert result.frames_written == 1

    frames = read(tmp_path / "x.extxyz", index=":")
    assert len(frames) == 1
    assert frames[0].info["step"] == 0
    assert read_log(tmp_path / "x.csv")["step"].tolist() == [0]


def test_guard_flags_non_finite_values():
    from molmtl.md.guard import MDInstabilityError, MDState, StabilityGuard

    guard = StabilityGuard()
    finite = np.zeros((2, 3))
    state = MDState(1, 0.5, -1.0, 0.1, 300.0, finite, finite, finite.copy(), None)
    guard.check(state)
    state.forces[1, 2] = np.nan
    with pytest.raises(MDInstabilityError, match="1 forces components are not finite"):
        guard.check(state)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model(make_model(), path)
    return path


def test_cli_md_runs(tmp_path, model_file, capsys):
    structure = tmp_path / "ethanol.xyz"
    molecule("CH3CH2OH").write(structure)
    trajectory = tmp_path / "md.extxyz"
    status = main([
        "md", str(model_file), str(structure), "--steps", "20", "--dt", "0.5", "--temperature", "100",
        "--stride", "10", "-o", str(trajectory), "--log", str(tmp_path / "md.csv"), "--no-progress",
    ])
    assert status == 0
    assert len(read(trajectory, index=":")) == 3
    assert "NVE MD finished: 20 steps" in capsys.readouterr().out


def test_cli_md_guard_exit_status(tmp_path, model_file, capsys):
    structure = tmp_path / "bad.xyz"
    exploding_water().write(structure)
    status = main([
        "md", str(model_file), str(structure), "--steps", "20", "--dt", "2.0", "--temperature", "10",
        "--stride", "1", "-o", str(tmp_path / "md.extxyz"), "--log", str(tmp_path / "md.csv"), "--no-progress",
    ])
    assert status == 1
    assert "MD stopped at step" in capsys.readouterr().err
