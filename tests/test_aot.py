"""Compiled (AOTInductor) models: `molmtl compile`, agreement with the eager model, MD, input errors.

One float64 package is compiled per test worker through the command line (about 30 s of one
core) and shared by the tests of this module, which run in one xdist group.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.build import molecule
from ase.md.verlet import VelocityVerlet

from molmtl.calculators import MolMTLCalculator
from molmtl.calculators.skin_neighbors import SkinNeighborList
from molmtl.cli.main import main as molmtl_main
from molmtl.nn.aot import CompiledModel
from molmtl.nn.config import ModelConfig
from molmtl.nn.model import MolMTLModel
from molmtl.nn.serialization import save_model
from structures import water_box

pytestmark = pytest.mark.xdist_group("aot")

CONFIG = dict(
    atomic_numbers=[1, 6, 8],
    cutoff=4.0,
    num_channels=8,
    l_max=1,
    num_layers=2,
    correlation_order=2,
    radial_mlp=[16],
    readout_hidden=8,
    dtype="float64",
    e0s={1: -13.6, 6: -1029.8, 8: -2041.3},
    energy_shift=0.2,
    avg_num_neighbors=6.0,
)


def make_model() -> MolMTLModel:
    torch.manual_seed(3)
    model = MolMTLModel(ModelConfig(**CONFIG)).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(0.3)  # gentle forces, so that the MD test does not blow up
    return model


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[MolMTLModel, Path]:
    folder = tmp_path_factory.mktemp("aot")
    model = make_model()
    save_model(model, folder / "model.pt")
    # Two threads: AOTInductor generates different (parallel) C++ code than for one thread.
    assert molmtl_main(["compile", str(folder / "model.pt"), "--threads", "2"]) == 0
    return model, folder / "model.pt2"


def charged_dimer() -> Atoms:
    atoms = molecule("H2O") + molecule("H2O")
    atoms.positions[3:] += [2.8, 0.3, 0.1]
    atoms.info["charge"] = 1.0
    return atoms


def results(atoms: Atoms, calculator: MolMTLCalculator, stress: bool) -> dict[str, np.ndarray]:
    atoms = atoms.copy()
    atoms.calc = calculator
    values = {
        "energy": np.array(atoms.get_potential_energy()),
        "energies": atoms.get_potential_energies(),
        "forces": atoms.get_forces(),
        "dipole": atoms.get_dipole_moment(),
        "charges": atoms.get_charges(),
    }
    if stress:
        values["stress"] = atoms.get_stress()
    return values


@pytest.mark.parametrize(
    "name, atoms",
    [
        ("ethanol", molecule("CH3CH2OH")),
        ("charged water dimer", charged_dimer()),
        ("H2, one pair (padded)", molecule("H2")),
        ("two far-apart atoms, no pair (padded)", Atoms("OH", positions=[[0, 0, 0], [9, 0, 0]])),
        ("periodic water box", water_box(seed=1)),
        ("slab, periodic in x and y", Atoms("CO", positions=[[0, 0, 0], [1.2, 0.3, 0.1]], cell=[3.0, 3.5, 0.0], pbc=[True, True, False])),
    ],
)
def test_compiled_matches_eager(compiled, name, atoms):
    model, package = compiled
    atoms = atoms.copy()
    atoms.rattle(0.05, seed=2)
    periodic = bool(atoms.pbc.all())
    expected = results(atoms, MolMTLCalculator(model), periodic)
    found = results(atoms, MolMTLCalculator(package), periodic)
    for key, value in expected.items():
        np.testing.assert_allclose(found[key], value, atol=1e-10, err_msg=f"{key} of {name}")
    if name.startswith("charged"):
        assert found["charges"].sum() == pytest.approx(1.0, abs=1e-10)


def test_compiled_md_follows_eager_trajectory(compiled):
    model, package = compiled
    trajectories = []
    for calculator in (MolMTLCalculator(model), MolMTLCalculator(package)):
        atoms = molecule("CH3CH2OH")
        atoms.set_momenta(np.random.default_rng(0).normal(scale=0.3, size=(len(atoms), 3)))
        atoms.calc = calculator
        energies = []
        dynamics = VelocityVerlet(atoms, 0.25 * units.fs)
        dynamics.attach(lambda: energies.append(atoms.get_total_energy()), interval=1)
        dynamics.run(40)
        trajectories.append((atoms.positions.copy(), np.array(energies)))
    np.testing.assert_allclose(trajectories[1][0], trajectories[0][0], atol=1e-9)
    np.testing.assert_allclose(trajectories[1][1], trajectories[0][1], atol=1e-9)


def test_package_metadata(compiled):
    model, package = compiled
    loaded = CompiledModel(package)
    assert loaded.cutoff == model.cutoff
    assert loaded.atomic_numbers == [1, 6, 8]
    assert loaded.dtype == torch.float64
    assert loaded.output_names == ("energy", "node_energy", "forces", "virial", "dipole", "charges")


def test_compiled_input_errors(compiled, tmp_path):
    _, package = compiled
    calculator = MolMTLCalculator(package)
    with pytest.raises(ValueError, match=r"unknown elements N \(7\)"):
        calculator.get_potential_energy(molecule("NH3"))
    close = molecule("H2O")
    close.positions[1] = close.positions[0] + [0.05, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"atoms 0 and 1 are 0.05 Angstrom apart"):
        calculator.get_potential_energy(close)
    with pytest.raises(ValueError, match="at least 2 atoms"):
        calculator.get_potential_energy(Atoms("H"))
    with pytest.raises(ValueError, match="compiled for torch.float64, not torch.float32"):
        MolMTLCalculator(package, dtype=torch.float32)
    not_a_package = tmp_path / "broken.pt2"
    not_a_package.write_text("not a zip file")
    with pytest.raises(ValueError, match="not a loadable AOTInductor package"):
        MolMTLCalculator(not_a_package)
    with pytest.raises(FileNotFoundError, match="molmtl compile"):
        MolMTLCalculator(tmp_path / "missing.pt2")


def test_compile_cli_rejects_bad_arguments(tmp_path, capsys):
    assert molmtl_main(["compile", str(tmp_path / "missing.pt")]) == 1
    assert "not found" in capsys.readouterr().err
    assert molmtl_main(["compile", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "model.bin")]) == 1
    assert "must end in .pt2" in capsys.readouterr().err
    assert molmtl_main(["compile", str(tmp_path / "model.pt2")]) == 1
    assert "already a compiled package" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_text("not a torch archive")
    assert molmtl_main(["compile", str(corrupt)]) == 1
    assert "could not read" in capsys.readouterr().err


def test_cli_md_bad_input_leaves_no_output(compiled, tmp_path, capsys):
    from ase.io import write

    _, package = compiled
    output = tmp_path / "md.extxyz"
    status = molmtl_main(["md", str(package), str(tmp_path / "missing.xyz"), "-o", str(output)])
    assert status == 1
    assert "could not read frame 0" in capsys.readouterr().err
    write(tmp_path / "ammonia.xyz", molecule("NH3"))
    status = molmtl_main(["md", str(package), str(tmp_path / "ammonia.xyz"), "-o", str(output), "--log", str(tmp_path / "md.csv")])
    assert status == 1
    assert "unknown elements N (7)" in capsys.readouterr().err
    assert not output.exists()
    assert not (tmp_path / "md.csv").exists()


def test_half_list_holds_each_pair_once():
    atoms = water_box(repeat=1)  # a 3.1 Å cell, shorter than the cutoff: atoms see their own images
    full = SkinNeighborList(4.0, 0.5)
    half = SkinNeighborList(4.0, 0.5, half=True)
    cell = atoms.cell.array
    full_index, full_shifts = full.update(atoms.positions, cell, atoms.pbc)
    half_index, half_shifts = half.update(atoms.positions, cell, atoms.pbc)
    assert 2 * half_index.shape[1] == full_index.shape[1]
    forward = {(int(i), int(j), *map(int, s)) for (i, j), s in zip(half_index.T, half_shifts)}
    reverse = {(j, i, -a, -b, -c) for i, j, a, b, c in forward}
    assert not forward & reverse
    assert forward | reverse == {(int(i), int(j), *map(int, s)) for (i, j), s in zip(full_index.T, full_shifts)}


def test_cli_md_runs_a_compiled_package(compiled, tmp_path, capsys):
    from ase.io import read, write

    _, package = compiled
    write(tmp_path / "start.xyz", molecule("CH3CH2OH"))
    status = molmtl_main([
        "md", str(package), str(tmp_path / "start.xyz"), "--steps", "20", "--stride", "5", "--dt", "0.25",
        "--temperature", "100", "-o", str(tmp_path / "md.extxyz"), "--log", str(tmp_path / "md.csv"), "--no-progress",
    ])
    assert status == 0
    frames = read(tmp_path / "md.extxyz", index=":")
    assert len(frames) == 5
    assert np.isfinite(frames[-1].get_forces()).all()


def test_cli_md_rejects_dtype_mismatch(compiled, tmp_path, capsys):
    from ase.io import write

    _, package = compiled
    write(tmp_path / "start.xyz", molecule("H2O"))
    status = molmtl_main(["md", str(package), str(tmp_path / "start.xyz"), "--dtype", "float32", "--steps", "2"])
    assert status == 1
    assert "compile the model again with 'molmtl compile --dtype float32'" in capsys.readouterr().err
