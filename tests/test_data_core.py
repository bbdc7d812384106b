"""Core of the molmtl HDF5 format: writer, reader, dataset, neighbour lists, atomic writes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.neighborlist import neighbor_list as ase_neighbor_list

from molmtl.data import keys
from molmtl.data.dataset import H5Dataset
from molmtl.data.neighbors import atoms_to_data, neighbor_list
from molmtl.data.reader import FormatError, H5Reader
from molmtl.data.structure import Structure
from molmtl.data.writer import H5Writer


def _mixed_structures() -> list[Structure]:
    rng = np.random.default_rng(0)
    water = molecule("H2O")
    ethanol = molecule("CH3CH2OH")
    copper = bulk("Cu", "fcc", a=3.6, cubic=True)
    structures = [
        Structure(
            water.numbers,
            water.positions,
            energy=-14.2,
            forces=rng.normal(size=(3, 3)),
            dipole=[0.1, 0.2, 0.3],
            config_type="water",
            molecule="H2O",
        ),
        Structure(
            ethanol.numbers,
            ethanol.positions,
            total_charge=1.0,
            energy=-40.0,
            charges=rng.normal(size=9),
            molecule="ethanol",
            spin_multiplicity=2,
        ),
        Structure(
            copper.numbers,
            copper.positions,
            cell=copper.cell.array,
            pbc=True,
            energy=-15.0,
            stress=[0.1, 0.2, 0.3, 0.01, 0.02, 0.03],
            weight=2.0,
        ),
        Structure(water.numbers, water.positions + 0.05),
    ]
    return structures


def test_writer_reader_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "mixed.h5"
    structures = _mixed_structures()
    with H5Writer(path, provenance={"source": "unit test", "level_of_theory": "none"}) as writer:
        writer.append(structures[:2])
        writer.append(structures[2:])
    reader = H5Reader(path)
    assert len(reader) == 4
    assert reader.provenance["source"] == "unit test"
    assert reader.units[keys.DIPOLE] == "e*Angstrom"
    for original, stored in zip(structures, reader):
        np.testing.assert_array_equal(stored.numbers, original.numbers)
        np.testing.assert_array_equal(stored.positions, original.positions)
        np.testing.assert_array_equal(stored.cell, original.cell)
        np.testing.assert_array_equal(stored.pbc, original.pbc)
        assert stored.total_charge == original.total_charge
        assert stored.weight == original.weight
        assert stored.config_type == original.config_type
        assert stored.molecule == original.molecule
        assert stored.spin_multiplicity == original.spin_multiplicity
        for name in ("energy", "forces", "dipole", "charges", "stress"):
            value = getattr(original, name)
            if value is None:
                assert getattr(stored, name) is None, name
            else:
                np.testing.assert_array_equal(getattr(stored, name), value)
    assert reader.label_counts() == {"energy": 3, "forces": 1, "stress": 1, "dipole": 1, "charges": 1}
    assert reader.elements() == [1, 6, 8, 29]


def test_voigt_stress_order() -> None:
    structure = Structure([29], [[0, 0, 0]], cell=np.eye(3) * 3, pbc=True, stress=[1, 2, 3, 4, 5, 6])
    expected = np.array([[1, 6, 5], [6, 2, 4], [5, 4, 3]], dtype=float)
    np.testing.assert_array_equal(structure.stress, expected)
    atoms = structure.to_atoms()
    np.testing.assert_allclose(atoms.get_stress(voigt=False), expected)


def test_atoms_round_trip_values() -> None:
    structure = _mixed_structures()[0]
    atoms = structure.to_atoms()
    assert atoms.get_potential_energy() == structure.energy
    np.testing.assert_array_equal(atoms.get_forces(), structure.forces)
    np.testing.assert_array_equal(atoms.get_dipole_moment(), structure.dipole)
    again = Structure.from_atoms(atoms)
    assert again.energy == structure.energy
    np.testing.assert_array_equal(again.dipole, structure.dipole)
    assert again.config_type == "water"


def test_dataset_layout(tmp_path: Path) -> None:
    path = tmp_path / "mixed.h5"
    with H5Writer(path) as writer:
        writer.append(_mixed_structures())
    dataset = H5Dataset(path, cutoff=4.0, dtype=torch.float64)
    data = dataset[1]
    assert data[keys.POSITIONS].shape == (9, 3)
    assert data[keys.POSITIONS].dtype == torch.float64
    assert data[keys.ATOMIC_NUMBERS].dtype == torch.int64
    assert data[keys.CELL].shape == (1, 3, 3)
    assert data[keys.PBC].shape == (1, 3)
    assert data[keys.TOTAL_CHARGE].tolist() == [1.0]
    assert data[keys.ENERGY].shape == (1,)
    assert data[keys.DIPOLE].shape == (1, 3)
    assert data[keys.STRESS].shape == (1, 3, 3)
    assert data[keys.CHARGES].shape == (9,)
    assert data[keys.mask_key(keys.CHARGES)].tolist() == [True]
    assert data[keys.mask_key(keys.FORCES)].tolist() == [False]
    assert torch.count_nonzero(data[keys.FORCES]) == 0
    assert data[keys.SPIN_MULTIPLICITY].tolist() == [2]
    assert dataset.label_counts()["energy"] == 3
    subset = dataset.subset([2, 0])
    assert len(subset) == 2
    assert subset[0][keys.STRUCTURE_INDEX].tolist() == [2]
    assert subset.label_counts() == {"energy": 2, "forces": 1, "stress": 1, "dipole": 1, "charges": 0}
    float32 = H5Dataset(path, cutoff=4.0, dtype=torch.float32)[0]
    assert float32[keys.POSITIONS].dtype == torch.float32


def test_edge_vectors_convention() -> None:
    atoms = bulk("Cu", "fcc", a=3.6)
    data = atoms_to_data(atoms, cutoff=3.0)
    i, j = data[keys.EDGE_INDEX]
    vectors = data[keys.POSITIONS][j] - data[keys.POSITIONS][i] + data[keys.SHIFTS] @ data[keys.CELL][0]
    lengths = vectors.norm(dim=1)
    assert torch.allclose(lengths, torch.full_like(lengths, 3.6 / np.sqrt(2)))
    assert len(lengths) == 12


@pytest.mark.parametrize(
    "atoms",
    [
        bulk("Cu", "fcc", a=3.6),  # one atom, cell far shorter than the cutoff
        bulk("Si", "diamond", a=5.43),
        Atoms(
            "H2",
            positions=[[0, 0, 0], [0.3, 0.4, 0.5]],
            cell=[[2.0, 0, 0], [1.9, 0.4, 0], [0.3, 0.2, 1.5]],
            pbc=True,
        ),
        Atoms("HO", positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[2.0, 2.5, 10.0], pbc=[True, True, False]),
        molecule("CH3CH2OH"),
        Atoms(
            "SiSi",
            positions=[
                [12.1, -7.3, 0.2],
                [1.3, 1.4, -9.9],
            ],  # far outside the cell, as after MD without wrapping
            cell=[[3.8, 0, 0], [1.9, 3.3, 0], [1.9, 1.1, 3.1]],
            pbc=True,
        ),
    ],
    ids=["cu-primitive", "si", "skewed-small", "slab", "molecule", "outside-cell"],
)
def test_neighbors_match_ase(atoms: Atoms) -> None:
    # Not a lattice distance of any case: pairs at exactly the cutoff differ by rounding.
    cutoff = 4.77
    edge_index, shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
    reference_i, reference_j, reference_shifts = ase_neighbor_list("ijS", atoms, cutoff)
    assert edge_index.shape[1] == len(reference_i)
    ours = sorted(zip(edge_index[0], edge_index[1], *shifts.T.astype(int)))
    theirs = sorted(zip(reference_i, reference_j, *reference_shifts.T))
    assert ours == theirs
    assert edge_index.dtype == np.int64


def test_zero_cell_vector_periodic_rejected() -> None:
    with pytest.raises(ValueError, match="zero lattice vector"):
        neighbor_list(np.zeros((1, 3)), np.diag([3.0, 3.0, 0.0]), True, 2.0)


def test_dataloader_two_workers(tmp_path: Path) -> None:
    from torch_geometric.loader import DataLoader

    path = tmp_path / "many.h5"
    water = molecule("H2O")
    structures = [Structure(water.numbers, water.positions + 0.01 * k, energy=float(k)) for k in range(40)]
    with H5Writer(path) as writer:
        writer.append(structures)
    dataset = H5Dataset(path, cutoff=3.0)
    dataset[0]  # open the handle in the parent before the workers fork
    loader = DataLoader(dataset, batch_size=8, num_workers=2, shuffle=False)
    batches = list(loader)
    energies = torch.cat([batch[keys.ENERGY] for batch in batches])
    assert energies.tolist() == [float(k) for k in range(40)]
    batch = batches[1]
    assert batch.num_graphs == 8
    assert batch[keys.CELL].shape == (8, 3, 3)
    assert batch[keys.mask_key(keys.FORCES)].shape == (8,)
    assert batch[keys.STRUCTURE_INDEX].tolist() == list(range(8, 16))
    assert batch[keys.EDGE_INDEX].max() == batch.num_nodes - 1
    assert batch[keys.SHIFTS].shape == (batch[keys.EDGE_INDEX].shape[1], 3)


def test_existing_file_kept_without_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "out.h5"
    with H5Writer(path) as writer:
        writer.append(_mixed_structures()[:1])
    with pytest.raises(FileExistsError, match="overwrite"):
        H5Writer(path).__enter__()


def test_failed_write_leaves_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "out.h5"
    with H5Writer(path) as writer:
        writer.append(_mixed_structures()[:1])
    with pytest.raises(RuntimeError):
        with H5Writer(path, overwrite=True) as writer:
            writer.append(_mixed_structures())
            raise RuntimeError("interrupted")
    assert len(H5Reader(path)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np
    from molmtl.data.structure import Structure
    from molmtl.data.writer import H5Writer
    positions = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.96], [0.93, 0.0, -0.24]])
    with H5Writer(sys.argv[1], overwrite=True) as writer:
        writer.append([Structure([8, 1, 1], positions, energy=1.0)])
        print("started", flush=True)
        while True:
            writer.append([Structure([8, 1, 1], positions, energy=1.0)] * 50)
    """
)


@pytest.mark.parametrize("previous", [False, True], ids=["no-file", "previous-file"])
def test_sigkill_during_write(tmp_path: Path, previous: bool) -> None:
    path = tmp_path / "killed.h5"
    if previous:
        with H5Writer(path) as writer:
            writer.append(_mixed_structures())
    process = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "started"
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    if previous:
        assert len(H5Reader(path)) == 4
    else:
        assert not path.exists()


def test_newer_format_version_rejected(tmp_path: Path) -> None:
    path = tmp_path / "future.h5"
    with H5Writer(path) as writer:
        writer.append(_mixed_structures())
    with h5py.File(path, "a") as file:
        file.attrs["format_version"] = 99
    with pytest.raises(FormatError, match="upgrade molmtl"):
        H5Reader(path)


def test_missing_field_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.h5"
    with H5Writer(path) as writer:
        writer.append(_mixed_structures())
    with h5py.File(path, "a") as file:
        del file["dipole"]
    with pytest.raises(FormatError, match="'dipole'"):
        H5Reader(path)


def test_provenance_is_json(tmp_path: Path) -> None:
    path = tmp_path / "p.h5"
    with H5Writer(path, provenance={"command": "molmtl convert x"}) as writer:
        writer.append(_mixed_structures())
    with h5py.File(path) as file:
        provenance = json.loads(file.attrs["provenance"])
    assert provenance["command"] == "molmtl convert x"
    assert "created" in provenance


def test_append_atoms_reads_calculator(tmp_path: Path) -> None:
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms = molecule("CH3CH2OH")
    charges = np.linspace(-0.4, 0.4, len(atoms))
    atoms.calc = SinglePointCalculator(
        atoms, energy=-42.0, forces=np.ones((9, 3)), dipole=[0.1, 0.0, -0.2], charges=charges
    )
    atoms.info["charge"] = 0.0
    atoms.info["config_type"] = "md_300K"
    path = tmp_path / "atoms.h5"
    with H5Writer(path) as writer:
        writer.append_atoms([atoms, atoms])
    stored = H5Reader(path)[1]
    assert stored.energy == -42.0
    np.testing.assert_array_equal(stored.forces, np.ones((9, 3)))
    np.testing.assert_array_equal(stored.dipole, [0.1, 0.0, -0.2])
    np.testing.assert_array_equal(stored.charges, charges)
    assert stored.config_type == "md_300K"


def test_atoms_to_data_total_charge() -> None:
    atoms = molecule("NH3")
    assert atoms_to_data(atoms, cutoff=3.0)[keys.TOTAL_CHARGE].tolist() == [0.0]
    atoms.info["charge"] = 1.0
    data = atoms_to_data(atoms, cutoff=3.0, dtype=torch.float32)
    assert data[keys.TOTAL_CHARGE].tolist() == [1.0]
    assert data[keys.POSITIONS].dtype == torch.float32
    assert atoms_to_data(atoms, cutoff=3.0, total_charge=-1.0)[keys.TOTAL_CHARGE].tolist() == [-1.0]
    assert data[keys.EDGE_INDEX].shape == (2, 12)


def test_dataset_cache_returns_same_graphs():
    path = Path(__file__).resolve().parents[1] / "datasets" / "embedded.h5"
    plain = H5Dataset(path, cutoff=5.0)
    cached = H5Dataset(path, cutoff=5.0, cache=True)
    first = cached[3]
    assert cached[3] is first
    reference = plain[3]
    for key in reference.keys():
        assert torch.equal(first[key], reference[key]), key
    subset = cached.subset([3, 4])
    assert subset[0] is first
    assert list(cached.cache) == [3]
