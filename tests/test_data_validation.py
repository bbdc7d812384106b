"""Validation of imported structures: every bad-input case gives a clear error or a counted skip."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import ase.db
import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator

from molmtl.cli.main import main
from molmtl.data.convert import convert_file
from molmtl.data.importers import ImportOptions
from molmtl.data.reader import H5Reader
from molmtl.data.structure import Structure
from molmtl.data.validation import InvalidFileError, InvalidStructureError, validate_structure
from molmtl.data.writer import H5Writer


def _water(shift: float = 0.0, energy: float = -10.0) -> Atoms:
    atoms = molecule("H2O")
    atoms.positions += shift
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=np.zeros((3, 3)))
    return atoms


def _write_xyz(path: Path, frames: list[Atoms]) -> Path:
    ase.io.write(path, frames, format="extxyz")
    return path


def _assert_nothing_written(folder: Path, output: Path) -> None:
    assert not output.exists()
    assert [p.name for p in folder.iterdir() if p.name.startswith(f".{output.name}")] == []


@pytest.fixture
def nan_xyz(tmp_path: Path) -> Path:
    frames = [_water(0.0), _water(1.0), _water(2.0), _water(3.0)]
    frames[1].positions[2, 1] = np.nan
    frames[3].calc.results["energy"] = np.inf
    return _write_xyz(tmp_path / "bad.xyz", frames)


def test_nan_position_error(nan_xyz: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.h5"
    with pytest.raises(InvalidStructureError) as caught:
        convert_file(nan_xyz, output)
    message = str(caught.value)
    assert "structure 1" in message
    assert "positions" in message
    assert "nan" in message
    assert "--on-bad skip" in message
    assert caught.value.index == 1
    _assert_nothing_written(tmp_path, output)


def test_nan_and_inf_skipped(nan_xyz: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.h5"
    result = convert_file(nan_xyz, output, on_bad="skip")
    assert result.skipped == [1, 3]
    assert "skipped 2 invalid structures" in result.skip_message
    assert "input indices 1, 3" in result.skip_message
    reader = H5Reader(output)
    assert len(reader) == 2
    assert reader.provenance["skipped_input_indices"] == [1, 3]


def test_inf_energy_named(tmp_path: Path) -> None:
    frames = [_water(0.0), _water(1.0, energy=np.inf)]
    path = _write_xyz(tmp_path / "inf.xyz", frames)
    with pytest.raises(InvalidStructureError, match=r"structure 1: energy contains inf"):
        convert_file(path, tmp_path / "out.h5")


def test_nan_forces_named(tmp_path: Path) -> None:
    frames = [_water(0.0), _water(1.0)]
    frames[0].calc.results["forces"][1, 2] = np.nan
    path = _write_xyz(tmp_path / "nanf.xyz", frames)
    with pytest.raises(InvalidStructureError, match=r"structure 0: forces contains nan at \(1, 2\)"):
        convert_file(path, tmp_path / "out.h5")


@pytest.mark.parametrize("number", [0, 119, -3])
def test_atomic_number_range(number: int) -> None:
    structure = Structure([8, number, 1], molecule("H2O").positions)
    with pytest.raises(InvalidStructureError, match=rf"atom 1 has atomic number {number}, outside 1-118"):
        validate_structure(structure)


def test_ghost_atom_skipped(tmp_path: Path) -> None:
    frames = [_water(0.0), _water(1.0), _water(2.0)]
    frames[2].numbers[0] = 0  # "X" in extxyz, atomic number 0
    path = _write_xyz(tmp_path / "ghost.xyz", frames)
    with pytest.raises(InvalidStructureError, match="structure 2: atom 0 has atomic number 0"):
        convert_file(path, tmp_path / "out.h5")
    result = convert_file(path, tmp_path / "out.h5", on_bad="skip")
    assert result.skipped == [2]


def test_close_atoms_rejected() -> None:
    positions = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.96], [0.0, 0.05, 0.96]]
    with pytest.raises(
        InvalidStructureError, match=r"atoms 1 and 2 are 0.0500 Angstrom apart, closer than 0.1"
    ):
        validate_structure(Structure([8, 1, 1], positions))


def test_close_periodic_image_rejected() -> None:
    structure = Structure([1, 1], [[0.0, 0.0, 0.0], [0.0, 0.0, 2.97]], cell=np.eye(3) * 3.0, pbc=True)
    with pytest.raises(InvalidStructureError, match=r"periodic image .* 0.0300 Angstrom apart"):
        validate_structure(structure)


def test_tiny_cell_self_image_rejected() -> None:
    structure = Structure([1], [[0.0, 0.0, 0.0]], cell=np.diag([3.0, 3.0, 0.05]), pbc=True)
    with pytest.raises(InvalidStructureError, match="atoms 0 and 0 .*periodic image"):
        validate_structure(structure)


def test_close_atoms_accepted_just_above() -> None:
    positions = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.96], [0.0, 0.11, 0.96]]
    validate_structure(Structure([8, 1, 1], positions))


def test_shape_mismatch_npz(tmp_path: Path) -> None:
    positions = molecule("H2O").positions
    path = tmp_path / "rmd17_water.npz"
    np.savez(
        path,
        nuclear_charges=np.array([8, 1, 1]),
        coords=np.stack([positions, positions + 1.0]),
        energies=np.array([-1.0, -2.0]),
        forces=np.zeros((2, 4, 3)),
    )
    with pytest.raises(
        InvalidStructureError, match=r"structure 0: forces has shape \(4, 3\) but shape \(3, 3\) is expected"
    ):
        convert_file(path, tmp_path / "out.h5")
    _assert_nothing_written(tmp_path, tmp_path / "out.h5")


def test_shape_mismatch_dipole_db(tmp_path: Path) -> None:
    path = tmp_path / "dipole.db"
    with ase.db.connect(path) as database:
        database.write(molecule("H2O"), data={"dipole": np.array([0.1, 0.2, 0.3])})
        database.write(molecule("H2O"), data={"dipole": np.array([0.1, 0.2])})
    with pytest.raises(InvalidStructureError, match=r"structure 1: dipole has shape \(2,\)"):
        convert_file(path, tmp_path / "out.h5")
    result = convert_file(path, tmp_path / "out.h5", on_bad="skip")
    assert result.skipped == [1]


def test_stress_components(tmp_path: Path) -> None:
    path = tmp_path / "stress.db"
    cell = np.eye(3) * 4.0
    voigt = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    full = np.array([[1.0, 6.0, 5.0], [6.0, 2.0, 4.0], [5.0, 4.0, 3.0]])
    with ase.db.connect(path) as database:
        for stress in (voigt, full.reshape(9), np.ones(4)):
            atoms = Atoms("Cu", positions=[[0, 0, 0]], cell=cell, pbc=True)
            database.write(atoms, data={"my_stress": stress})
    options = ImportOptions(keys={"stress": "my_stress"})
    with pytest.raises(
        InvalidStructureError, match=r"structure 2: stress has 4 components .* xx, yy, zz, yz, xz, xy"
    ):
        convert_file(path, tmp_path / "out.h5", options=options)
    result = convert_file(path, tmp_path / "out.h5", options=options, on_bad="skip")
    assert result.skipped == [2]
    reader = H5Reader(tmp_path / "out.h5")
    np.testing.assert_array_equal(reader[0].stress, full)
    np.testing.assert_array_equal(reader[1].stress, full)


@pytest.mark.parametrize("suffix", [".xyz", ".h5", ".db", ".npz"])
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    formats = {".xyz": "extxyz", ".h5": "ani", ".db": "asedb", ".npz": "rmd17"}
    with pytest.raises(InvalidFileError, match="is empty"):
        convert_file(path, tmp_path / "out.h5", format=formats[suffix])
    _assert_nothing_written(tmp_path, tmp_path / "out.h5")


def test_whitespace_xyz_has_no_structures(tmp_path: Path) -> None:
    path = tmp_path / "blank.xyz"
    path.write_text("\n\n")
    with pytest.raises(InvalidFileError, match="contains no structures"):
        convert_file(path, tmp_path / "out.h5")


def test_truncated_xyz(tmp_path: Path) -> None:
    path = _write_xyz(tmp_path / "full.xyz", [_water(float(k)) for k in range(5)])
    lines = path.read_text().splitlines(keepends=True)
    truncated = tmp_path / "cut.xyz"
    truncated.write_text("".join(lines[: 2 * 5 + 3]))  # 5 lines per frame; stops inside the third
    with pytest.raises(InvalidFileError, match=r"cannot be read after 2 structures.*truncated"):
        convert_file(truncated, tmp_path / "out.h5")
    _assert_nothing_written(tmp_path, tmp_path / "out.h5")


def _truncate_copy(source: Path, target: Path, fraction: float = 0.5) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def test_truncated_hdf5(tmp_path: Path, shared_data: Path) -> None:
    source = shared_data / "hdf5_molecular" / "modelforge_ani2x_diatomics" / "ani2x_minimal.hdf5"
    path = _truncate_copy(source, tmp_path / "cut.hdf5")
    with pytest.raises(InvalidFileError, match="not a readable HDF5 file.*truncated"):
        convert_file(path, tmp_path / "out.h5", format="ani")


def test_truncated_npz(tmp_path: Path) -> None:
    full = tmp_path / "full.npz"
    np.savez(
        full,
        nuclear_charges=np.array([8, 1, 1]),
        coords=np.random.default_rng(0).normal(size=(200, 3, 3)) * 3,
    )
    path = _truncate_copy(full, tmp_path / "rmd17_cut.npz")
    with pytest.raises(InvalidFileError, match="truncated or corrupt"):
        convert_file(path, tmp_path / "out.h5", format="rmd17")


def test_truncated_db(tmp_path: Path, shared_data: Path) -> None:
    source = shared_data / "md_energy_forces" / "schnetpack_small_db" / "test_ethanol.db"
    path = _truncate_copy(source, tmp_path / "cut.db", fraction=0.3)
    with pytest.raises(InvalidFileError, match="truncated"):
        convert_file(path, tmp_path / "out.h5")
    _assert_nothing_written(tmp_path, tmp_path / "out.h5")


def test_unmatched_key_lists_keys(tmp_path: Path, shared_data: Path) -> None:
    source = shared_data / "md_energy_forces" / "botnet_ethanol_rmd17" / "train.xyz"
    with pytest.raises(InvalidFileError) as caught:
        convert_file(source, tmp_path / "out.h5", options=ImportOptions(keys={"energy": "REF_energy"}))
    message = str(caught.value)
    assert "--energy-key 'REF_energy' matches nothing" in message
    for key in ("OH_dist", "config_type", "energy", "forces"):
        assert key in message
    _assert_nothing_written(tmp_path, tmp_path / "out.h5")


def test_unmatched_hdf5_key(tmp_path: Path, shared_data: Path) -> None:
    source = shared_data / "dipoles" / "modelforge_spice_ani1x_qm9" / "ani1_n5.hdf5"
    with pytest.raises(
        InvalidFileError, match=r"--dipole-key 'dipole_vector' matches nothing.*wb97x_dz\.dipole"
    ):
        convert_file(source, tmp_path / "out.h5", options=ImportOptions(keys={"dipole": "dipole_vector"}))


def test_cli_error_exit(nan_xyz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out.h5"
    assert main(["convert", str(nan_xyz), "-o", str(output), "--quiet"]) == 1
    error = capsys.readouterr().err
    assert "structure 1: positions contains nan" in error
    assert "Nothing was written" in error
    _assert_nothing_written(tmp_path, output)
    assert main(["convert", str(nan_xyz), "-o", str(output), "--quiet", "--on-bad", "skip"]) == 0
    printed = capsys.readouterr().out
    assert "skipped 2 invalid structures (input indices 1, 3)" in printed


def test_failed_import_keeps_previous_output(nan_xyz: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.h5"
    good = _write_xyz(tmp_path / "good.xyz", [_water(0.0)])
    convert_file(good, output)
    with pytest.raises(InvalidStructureError):
        convert_file(nan_xyz, output, overwrite=True)
    assert len(H5Reader(output)) == 1


def test_writer_rejects_invalid(tmp_path: Path) -> None:
    good = Structure([8, 1, 1], molecule("H2O").positions, energy=1.0)
    bad = Structure([8, 1, 1], molecule("H2O").positions, energy=float("nan"))
    output = tmp_path / "out.h5"
    with pytest.raises(InvalidStructureError, match="structure 1: energy contains nan"):
        with H5Writer(output) as writer:
            writer.append([good, bad])
    assert not output.exists()


def test_corrupt_sqlite_is_file_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InvalidFileError):
        convert_file(path, tmp_path / "out.h5")
    assert sqlite3 is not None and shutil is not None


def test_origin_dipole_moved_to_centre_of_mass(tmp_path: Path) -> None:
    from ase.data import atomic_masses

    atoms = molecule("NH3")
    atoms.positions += [1.0, 2.0, 3.0]
    atoms.info["charge"] = 1.0
    origin_dipole = np.array([0.5, -0.2, 0.1])
    atoms.calc = SinglePointCalculator(atoms, energy=-1.0, dipole=origin_dipole)
    path = _write_xyz(tmp_path / "charged.xyz", [atoms])
    masses = atomic_masses[atoms.numbers]
    centre = masses @ atoms.positions / masses.sum()

    as_given = convert_file(path, tmp_path / "given.h5")
    np.testing.assert_allclose(H5Reader(tmp_path / "given.h5")[0].dipole, origin_dipole)
    assert "stored as given" in as_given.provenance["dipole_reference"]

    moved = convert_file(path, tmp_path / "moved.h5", options=ImportOptions(dipole_reference="origin"))
    np.testing.assert_allclose(H5Reader(tmp_path / "moved.h5")[0].dipole, origin_dipole - centre, rtol=1e-12)
    assert "moved from the origin" in moved.provenance["dipole_reference"]


def test_cli_hints_similar_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = [_water(float(k)) for k in range(3)]
    for atoms in frames:
        atoms.info["REF_energy"] = atoms.get_potential_energy()
        atoms.calc = None
    path = _write_xyz(tmp_path / "ref.xyz", frames)
    assert main(["convert", str(path), "-o", str(tmp_path / "out.h5"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert (
        "hint: no structure has energy, but the file has REF_energy; choose one with --energy-key" in printed
    )
    assert (
        main(["convert", str(path), "-o", str(tmp_path / "ok.h5"), "--quiet", "--energy-key", "REF_energy"])
        == 0
    )
    assert H5Reader(tmp_path / "ok.h5").label_counts()["energy"] == 3


def test_unsupported_key_for_layout(tmp_path: Path, shared_data: Path) -> None:
    source = shared_data / "dipoles" / "modelforge_spice_ani1x_qm9" / "SPICE-1.1.4_n2.hdf5"
    options = ImportOptions(keys={"stress": "virial"})
    with pytest.raises(ValueError, match="--stress-key cannot be used with the spice layout"):
        convert_file(source, tmp_path / "out.h5", options=options)
