"""The committed GFN2-xTB dataset ``datasets/embedded.h5``: contents, validity and reproducible labels."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from scipy.sparse.csgraph import connected_components
from tblite.ase import TBLite

from molmtl.data import keys
from molmtl.data.reader import H5Reader

EMBEDDED_DATASET = Path(__file__).resolve().parents[1] / "datasets" / "embedded.h5"

MOLECULES = {
    "ethanol",
    "uracil",
    "benzene",
    "toluene",
    "naphthalene",
    "paracetamol",
    "salicylic_acid",
    "water_2",
    "water_3",
    "water_4",
    "water_5",
    "water_6",
}
LABELS = ("energy", "forces", "dipole", "charges")


@pytest.fixture(scope="module")
def reader() -> H5Reader:
    reader = H5Reader(EMBEDDED_DATASET)
    yield reader
    reader.close()


def test_file_size_below_5_mb() -> None:
    assert EMBEDDED_DATASET.stat().st_size < 5 * 1024**2


def test_structure_and_molecule_counts(reader: H5Reader) -> None:
    assert 1900 <= len(reader) <= 2100
    counts = Counter(reader.read_column("molecule"))
    assert set(counts) == MOLECULES
    assert min(counts.values()) >= 100, counts


def test_config_types_cover_300_to_800_k(reader: H5Reader) -> None:
    config_types = set(reader.read_column("config_type"))
    temperatures = set()
    for config_type in config_types:
        match = re.fullmatch(r"md_(\d+)K", config_type)
        assert match is not None, config_type
        temperatures.add(int(match.group(1)))
    assert min(temperatures) == 300
    assert max(temperatures) == 800
    assert len(temperatures) >= 4


def test_every_label_present(reader: H5Reader) -> None:
    counts = reader.label_counts()
    for name in LABELS:
        assert counts[name] == len(reader), name
    assert counts["stress"] == 0


def test_units_and_provenance(reader: H5Reader) -> None:
    assert reader.units["energy"] == "eV"
    assert reader.units["forces"] == "eV/Angstrom"
    assert reader.units["dipole"] == "e*Angstrom"
    assert reader.units["charges"] == "e"
    assert reader.units["pos"] == "Angstrom"
    assert "GFN2-xTB" in reader.provenance["level_of_theory"]
    assert reader.provenance["dipole_reference"] == keys.DIPOLE_REFERENCE
    assert "build_embedded.py" in reader.provenance["command"]


def test_frames_are_valid(reader: H5Reader) -> None:
    for index in range(len(reader)):
        structure = reader[index]
        for name in LABELS:
            assert np.all(np.isfinite(getattr(structure, name))), (index, name)
        distances = np.linalg.norm(structure.positions[:, None] - structure.positions[None], axis=-1)
        np.fill_diagonal(distances, np.inf)
        assert distances.min() >= 0.7, (index, distances.min())
        assert structure.total_charge == 0.0
        assert abs(structure.charges.sum()) < 1e-6, (index, structure.charges.sum())
        assert not structure.pbc.any()


def test_water_clusters_stay_bound(reader: H5Reader) -> None:
    molecules = reader.read_column("molecule")
    for index in np.flatnonzero([name.startswith("water_") for name in molecules]):
        structure = reader[int(index)]
        owner = np.arange(len(structure)) // 3  # the writer keeps the O, H, H order of every water
        assert np.all(structure.numbers[::3] == 8)
        distances = np.linalg.norm(structure.positions[:, None] - structure.positions[None], axis=-1)
        distances[owner[:, None] == owner[None, :]] = np.inf
        num_molecules = owner.max() + 1
        in_contact = np.zeros((num_molecules, num_molecules), dtype=bool)
        np.logical_or.at(in_contact, (owner[:, None], owner[None, :]), distances < 3.5)
        num_groups, _ = connected_components(in_contact, directed=False)
        assert num_groups == 1, (index, molecules[index])


def relabel(numbers: np.ndarray, positions: np.ndarray) -> dict[str, np.ndarray]:
    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.calc = TBLite(
        method="GFN2-xTB", charge=0, multiplicity=1, accuracy=0.01, electronic_temperature=300.0, verbosity=0
    )
    atoms.get_potential_energy()
    return atoms.calc.results


def test_label_settings_in_provenance(reader: H5Reader) -> None:
    settings = reader.provenance["label_settings"]
    assert settings["method"] == "GFN2-xTB"
    assert settings["accuracy"] == 0.01
    assert settings["electronic_temperature_K"] == 300.0
    assert settings["charge"] == 0
    assert settings["multiplicity"] == 1


def test_relabelled_frames_match(reader: H5Reader) -> None:
    rng = np.random.default_rng(7)
    for index in rng.choice(len(reader), size=6, replace=False):
        structure = reader[int(index)]
        fresh = relabel(structure.numbers, structure.positions)
        assert fresh["energy"] == pytest.approx(structure.energy, abs=1e-7)
        np.testing.assert_allclose(fresh["forces"], structure.forces, atol=1e-7)
        np.testing.assert_allclose(fresh["charges"], structure.charges, atol=1e-7)
        # tblite returns the dipole about the coordinate origin; with zero net charge it
        # equals the stored one about the centre of mass.
        np.testing.assert_allclose(fresh["dipole"], structure.dipole, atol=1e-7)


def test_dipole_independent_of_origin(reader: H5Reader) -> None:
    structure = reader[int(np.flatnonzero(reader.read_column("molecule") == "paracetamol")[0])]
    shifted = relabel(structure.numbers, structure.positions + np.array([7.0, -3.0, 11.0]))
    np.testing.assert_allclose(shifted["dipole"], structure.dipole, atol=1e-7)

