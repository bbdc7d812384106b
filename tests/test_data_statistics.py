"""Dataset statistics (E0, label RMS, neighbour count), splits and ``molmtl info`` errors."""

from __future__ import annotations

from pathlib import Path

import ase.io
import h5py
import numpy as np
import pytest
from ase.build import molecule
from ase.neighborlist import neighbor_list as ase_neighbor_list

from molmtl.cli.main import main
from molmtl.data.convert import convert_file
from molmtl.data.reader import H5Reader
from molmtl.data.splits import random_split, split_by_config_type, split_by_group, split_by_molecule
from molmtl.data.statistics import average_num_neighbors, e0_from_isolated_atoms, fit_e0, label_statistics
from molmtl.data.structure import Structure
from molmtl.data.writer import H5Writer

TRUE_E0 = {1: -13.6, 6: -1029.0, 7: -1485.0, 8: -2041.0}
NAMES = ("H2O", "CH4", "C2H6", "CO2", "NH3", "CH3CH2OH", "HCN", "N2", "CH3OH", "H2CO")


@pytest.fixture(scope="module")
def synthetic_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small molecules with E = sum E0 + noise and random forces, 20 of each molecule."""
    rng = np.random.default_rng(1)
    structures = []
    for name in NAMES:
        base = molecule(name)
        for k in range(20):
            positions = base.positions + rng.normal(scale=0.02, size=base.positions.shape)
            energy = sum(TRUE_E0[z] for z in base.numbers) + rng.normal(scale=1e-3)
            structures.append(
                Structure(
                    base.numbers,
                    positions,
                    energy=energy,
                    forces=rng.normal(size=(len(base), 3)),
                    dipole=rng.normal(size=3) if k % 2 else None,
                    molecule=name,
                    config_type="md" if k < 15 else "scan",
                )
            )
    path = tmp_path_factory.mktemp("stats") / "synthetic.h5"
    with H5Writer(path) as writer:
        writer.append(structures)
    return path


def test_fit_e0_recovers_references(synthetic_file: Path) -> None:
    e0 = fit_e0(synthetic_file)
    assert sorted(e0) == [1, 6, 7, 8]
    for z, value in TRUE_E0.items():
        assert e0[z] == pytest.approx(value, abs=1e-2)


def test_fit_e0_warns_underdetermined(tmp_path: Path) -> None:
    water = molecule("H2O")
    path = tmp_path / "water.h5"
    with H5Writer(path) as writer:
        writer.append([Structure(water.numbers, water.positions, energy=-2068.2)])
    with pytest.warns(UserWarning, match="determine only 1 of 2"):
        e0 = fit_e0(path)
    assert 2 * e0[1] + e0[8] == pytest.approx(-2068.2)


def test_isolated_atom_e0(shared_data: Path) -> None:
    frames = ase.io.read(
        shared_data / "md_energy_forces" / "botnet_ethanol_rmd17" / "isolated_atoms.xyz", ":"
    )
    e0 = e0_from_isolated_atoms(Structure.from_atoms(atoms) for atoms in frames)
    assert sorted(e0) == [1, 6, 7, 8]
    hydrogen = next(a for a in frames if a.numbers[0] == 1)
    assert e0[1] == hydrogen.get_potential_energy()


def test_label_statistics_match_numpy(synthetic_file: Path) -> None:
    reader = H5Reader(synthetic_file)
    structures = list(reader)
    indices = np.arange(0, len(structures), 3)
    stats = label_statistics(synthetic_file, TRUE_E0, indices=indices)
    chosen = [structures[i] for i in indices]
    per_atom = np.array([(s.energy - sum(TRUE_E0[z] for z in s.numbers)) / len(s) for s in chosen])
    forces = np.concatenate([s.forces.reshape(-1) for s in chosen])
    dipoles = np.stack([s.dipole for s in chosen if s.dipole is not None])
    assert stats["energy_per_atom_mean"] == pytest.approx(per_atom.mean(), rel=1e-10, abs=1e-12)
    assert stats["energy_per_atom_rms"] == pytest.approx(np.sqrt((per_atom**2).mean()), rel=1e-10)
    assert stats["forces_rms"] == pytest.approx(np.sqrt((forces**2).mean()), rel=1e-12)
    assert stats["dipole_rms"] == pytest.approx(np.sqrt((dipoles**2).mean()), rel=1e-12)
    np.testing.assert_allclose(stats["dipole_mean"], dipoles.mean(axis=0), rtol=1e-12)
    assert stats["count_energy"] == len(chosen)
    assert stats["count_dipole"] == len(dipoles)
    assert np.isnan(stats["charges_rms"])


def test_average_neighbors_match_ase(synthetic_file: Path) -> None:
    reader = H5Reader(synthetic_file)
    cutoff = 2.0
    edges = sum(len(ase_neighbor_list("i", s.to_atoms(), cutoff)) for s in reader)
    atoms = reader.offsets[-1]
    assert average_num_neighbors(synthetic_file, cutoff) == pytest.approx(edges / atoms, rel=1e-12)
    sampled = average_num_neighbors(synthetic_file, cutoff, max_structures=50, seed=3)
    assert sampled == average_num_neighbors(synthetic_file, cutoff, max_structures=50, seed=3)


def test_random_split_reproducible() -> None:
    first = random_split(1000, {"train": 0.8, "valid": 0.1, "test": 0.1}, seed=7)
    again = random_split(1000, {"train": 0.8, "valid": 0.1, "test": 0.1}, seed=7)
    other = random_split(1000, {"train": 0.8, "valid": 0.1, "test": 0.1}, seed=8)
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["train"], other["train"])
    assert [len(first[name]) for name in ("train", "valid", "test")] == [800, 100, 100]
    assert np.array_equal(np.sort(np.concatenate(list(first.values()))), np.arange(1000))


def test_random_split_bad_fractions() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(10, {"train": 0.8, "test": 0.3})


def test_split_by_molecule_disjoint(synthetic_file: Path) -> None:
    splits = split_by_molecule(synthetic_file, seed=2)
    reader = H5Reader(synthetic_file)
    molecules = reader.read_column("molecule")
    seen = [set(molecules[indices]) for indices in splits.values()]
    assert all(seen)
    assert seen[0].isdisjoint(seen[1])
    assert seen[0].isdisjoint(seen[2])
    assert seen[1].isdisjoint(seen[2])
    assert sum(len(indices) for indices in splits.values()) == len(reader)
    again = split_by_molecule(synthetic_file, seed=2)
    np.testing.assert_array_equal(splits["test"], again["test"])


def test_split_by_molecule_formula_fallback(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "md_energy_forces" / "botnet_ethanol_rmd17" / "train_eth_meth.xyz"
    output = tmp_path / "eth_meth.h5"
    convert_file(source, output)
    splits = split_by_molecule(output, {"train": 0.5, "test": 0.5}, seed=0)
    assert sorted(len(indices) for indices in splits.values()) == [300, 1000]


def test_split_by_config_type(synthetic_file: Path) -> None:
    splits = split_by_config_type(synthetic_file, {"train": ["md"], "test": ["scan"]})
    assert len(splits["train"]) == 150
    assert len(splits["test"]) == 50
    with pytest.raises(ValueError, match="'relax' matches no structure"):
        split_by_config_type(synthetic_file, {"train": ["relax"]})
    with pytest.raises(ValueError, match="assigned to both"):
        split_by_config_type(synthetic_file, {"train": ["md"], "test": ["md"]})


def test_split_by_group_too_few_groups() -> None:
    with pytest.raises(ValueError, match="2 groups cannot fill 3 splits"):
        split_by_group(["a", "b", "a"])


def test_info_rejects_newer_version(
    synthetic_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "future.h5"
    path.write_bytes(synthetic_file.read_bytes())
    with h5py.File(path, "a") as file:
        file.attrs["format_version"] = 2
    assert main(["info", str(path)]) == 1
    assert "upgrade molmtl" in capsys.readouterr().err


def test_info_names_missing_field(
    synthetic_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.h5"
    path.write_bytes(synthetic_file.read_bytes())
    with h5py.File(path, "a") as file:
        del file["forces_mask"]
    assert main(["info", str(path)]) == 1
    assert "has no 'forces_mask' dataset" in capsys.readouterr().err


def test_info_rejects_foreign_hdf5(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_data / "hdf5_molecular" / "modelforge_ani2x_diatomics" / "ani2x_minimal.hdf5"
    assert main(["info", str(path)]) == 1
    assert "molmtl convert" in capsys.readouterr().err
