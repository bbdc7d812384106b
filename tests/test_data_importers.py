"""Importers on real public files: ``molmtl convert``, ``molmtl info`` and a round trip to ASE Atoms."""

from __future__ import annotations

import json
from pathlib import Path

import ase.db
import ase.io
import h5py
import numpy as np
import pytest
from ase import units
from ase.data import atomic_masses

from molmtl.cli.main import main
from molmtl.data.reader import H5Reader


def _convert(source: Path, output: Path, *options: str) -> Path:
    assert main(["convert", str(source), "-o", str(output), "--quiet", *options]) == 0
    return output


def _info(path: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    assert main(["info", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _assert_xyz_round_trip(
    source: Path, output: Path, capsys: pytest.CaptureFixture[str], count: int, formula_atoms: int
) -> None:
    info = _info(output, capsys)
    assert info["num_structures"] == count
    assert info["num_atoms"] == count * formula_atoms
    assert info["label_counts"]["energy"] == count
    assert info["label_counts"]["forces"] == count
    assert info["units"]["energy"] == "eV"
    assert info["provenance"]["source_format"] == "extxyz"
    frames = ase.io.read(source, ":")
    reader = H5Reader(output)
    for index in (0, count // 2, count - 1):
        atoms = reader[index].to_atoms()
        np.testing.assert_array_equal(atoms.numbers, frames[index].numbers)
        np.testing.assert_array_equal(atoms.positions, frames[index].positions)
        assert atoms.get_potential_energy() == frames[index].get_potential_energy()
        np.testing.assert_array_equal(atoms.get_forces(), frames[index].get_forces())


def test_3bpa_extxyz(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = shared_data / "md_energy_forces" / "botnet_3bpa" / "train_300K.xyz"
    output = _convert(source, tmp_path / "3bpa.h5", "--level-of-theory", "DFT (3BPA set)")
    _assert_xyz_round_trip(source, output, capsys, 500, 27)
    assert H5Reader(output).provenance["level_of_theory"] == "DFT (3BPA set)"


def test_rmd17_aspirin_extxyz(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = shared_data / "md_energy_forces" / "macejax_rmd17_aspirin" / "rmd17_aspirin_train.xyz"
    output = _convert(source, tmp_path / "aspirin.h5")
    _assert_xyz_round_trip(source, output, capsys, 1200, 21)


def test_rmd17_ethanol_extxyz(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = shared_data / "md_energy_forces" / "botnet_ethanol_rmd17" / "train.xyz"
    output = _convert(source, tmp_path / "ethanol.h5")
    _assert_xyz_round_trip(source, output, capsys, 1000, 9)
    assert H5Reader(output)[0].config_type == "Training_set"


def test_rmd17_npz_kcal_to_ev(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = ase.io.read(shared_data / "md_energy_forces" / "botnet_ethanol_rmd17" / "train.xyz", ":40")
    kcal = units.kcal / units.mol
    energies_ev = np.array([a.get_potential_energy() for a in frames])
    forces_ev = np.stack([a.get_forces() for a in frames])
    source = tmp_path / "rmd17_ethanol.npz"
    np.savez(
        source,
        nuclear_charges=frames[0].numbers,
        coords=np.stack([a.positions for a in frames]),
        energies=energies_ev / kcal,
        forces=forces_ev / kcal,
    )
    output = _convert(source, tmp_path / "npz.h5")
    info = _info(output, capsys)
    assert info["num_structures"] == 40
    assert info["provenance"]["source_format"] == "rmd17"
    reader = H5Reader(output)
    for index in (0, 39):
        atoms = reader[index].to_atoms()
        assert atoms.get_potential_energy() == pytest.approx(energies_ev[index], rel=1e-12)
        np.testing.assert_allclose(atoms.get_forces(), forces_ev[index], rtol=1e-12, atol=1e-12)
        assert reader[index].molecule == "ethanol"


def test_schnetpack_ethanol_db(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = shared_data / "md_energy_forces" / "schnetpack_small_db" / "test_ethanol.db"
    output = _convert(source, tmp_path / "db.h5", "--energy-unit", "kcal/mol")
    info = _info(output, capsys)
    assert info["num_structures"] == 20
    assert info["elements"] == {"H": 120, "C": 40, "O": 20}
    assert info["provenance"]["units_in"]["energy"] == "kcal/mol"
    kcal = units.kcal / units.mol
    reader = H5Reader(output)
    with ase.db.connect(source) as database:
        for index, row in enumerate(database.select()):
            atoms = reader[index].to_atoms()
            np.testing.assert_array_equal(atoms.positions, row.positions)
            assert atoms.get_potential_energy() == pytest.approx(row.data["energy"][0] * kcal, rel=1e-12)
            np.testing.assert_allclose(atoms.get_forces(), row.data["forces"] * kcal, rtol=1e-12)


@pytest.mark.parametrize("name", ["ase_ag3_2200.db", "ase_carbene_2200.db"])
def test_spookynet_db(
    name: str, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = shared_data / "dipoles" / "schnetpack_spookynet_ag3_ch2" / name
    output = _convert(source, tmp_path / "spooky.h5")
    info = _info(output, capsys)
    assert info["num_structures"] == 2200
    assert info["label_counts"]["dipole"] == 2200
    assert info["label_counts"]["forces"] == 2200
    assert "2S" in info["provenance"]["spin_multiplicity"]
    reader = H5Reader(output)
    with ase.db.connect(source) as database:
        rows = [database.get(id=1), database.get(id=1101), database.get(id=2200)]
    for row in rows:
        structure = reader[row.id - 1]
        atoms = structure.to_atoms()
        np.testing.assert_allclose(atoms.get_dipole_moment(), row.data["dipole_moment"].reshape(3), rtol=1e-6)
        assert atoms.get_potential_energy() == pytest.approx(float(row.data["energy"][0]), rel=1e-6)
        np.testing.assert_allclose(atoms.get_forces(), row.data["forces"], rtol=1e-6)
        assert atoms.info["charge"] == float(row.data["total_charge"][0])
        assert atoms.info["spin_multiplicity"] == int(row.data["spin_multiplicity"][0]) + 1
    if name == "ase_ag3_2200.db":
        assert info["total_charges"] == {"-1.0": 1100, "1.0": 1100}
    else:
        multiplicities = H5Reader(output).read_column("spin_multiplicity")
        assert sorted(np.unique(multiplicities, return_counts=True)[1].tolist()) == [1100, 1100]
        assert set(multiplicities.tolist()) == {1, 3}


def test_spice_hdf5(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = shared_data / "dipoles" / "modelforge_spice_ani1x_qm9" / "SPICE-1.1.4_n2.hdf5"
    output = _convert(source, tmp_path / "spice.h5", "--level-of-theory", "wB97M-D3(BJ)/def2-TZVPPD")
    info = _info(output, capsys)
    assert info["num_structures"] == 55
    assert info["label_counts"] == {"energy": 55, "forces": 55, "stress": 0, "dipole": 55, "charges": 50}
    assert info["total_charges"] == {"1.0": 55}
    assert "centre of mass" in info["provenance"]["dipole_reference"]
    reader = H5Reader(output)
    index = 0
    with h5py.File(source) as file:
        for name in file:
            group = file[name]
            numbers = group["atomic_numbers"][()]
            masses = atomic_masses[numbers]
            for conformer in (0, len(group["conformations"]) - 1):
                atoms = reader[index + conformer].to_atoms()
                positions = group["conformations"][conformer].astype(float) * units.Bohr
                np.testing.assert_allclose(atoms.positions, positions, rtol=1e-12)
                assert atoms.get_potential_energy() == pytest.approx(
                    group["dft_total_energy"][conformer] * units.Hartree, rel=1e-12
                )
                forces = -group["dft_total_gradient"][conformer].astype(float) * units.Hartree / units.Bohr
                np.testing.assert_allclose(atoms.get_forces(), forces, rtol=1e-12)
                com = masses @ positions / masses.sum()
                dipole = group["scf_dipole"][conformer].astype(float) * units.Bohr - 1.0 * com
                np.testing.assert_allclose(atoms.get_dipole_moment(), dipole, rtol=1e-10, atol=1e-12)
                assert atoms.info["charge"] == 1.0
                if "mbis_charges" in group:
                    np.testing.assert_allclose(
                        atoms.get_charges(), group["mbis_charges"][conformer, :, 0], rtol=1e-6
                    )
            index += len(group["conformations"])


def test_ani1x_hdf5(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = shared_data / "dipoles" / "modelforge_spice_ani1x_qm9" / "ani1_n5.hdf5"
    output = _convert(source, tmp_path / "ani1x.h5")
    info = _info(output, capsys)
    assert info["num_structures"] == 8
    assert info["label_counts"]["dipole"] == 4
    assert info["label_counts"]["energy"] == 8
    assert info["provenance"]["keys"]["energy"] == "wb97x_dz.energy"
    reader = H5Reader(output)
    with h5py.File(source) as file:
        group = file["C1H4N4O4"]
        atoms = reader[0].to_atoms()
        np.testing.assert_array_equal(atoms.numbers, group["atomic_numbers"][()])
        assert atoms.get_potential_energy() == pytest.approx(
            group["wb97x_dz.energy"][0] * units.Hartree, rel=1e-12
        )
        np.testing.assert_allclose(atoms.get_forces(), group["wb97x_dz.forces"][0] * units.Hartree, rtol=1e-6)


def test_ani1_alkane_hdf5(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = shared_data / "hdf5_molecular" / "alkane_ani1_layout" / "gdb_HC_s01.h5"
    output = _convert(source, tmp_path / "ch4.h5")
    info = _info(output, capsys)
    assert info["num_structures"] == 5400
    assert info["elements"] == {"H": 4 * 5400, "C": 5400}
    assert info["label_counts"]["forces"] == 0
    with h5py.File(source) as file:
        energy = file["gdb11_s01/gdb11_s01-0/energies"][17]
    assert H5Reader(output)[17].to_atoms().get_potential_energy() == pytest.approx(
        energy * units.Hartree, rel=1e-12
    )


def _finite_difference_ratio(reader: H5Reader, indices: np.ndarray) -> float:
    """Median of dE / (-F . dR) over nearest-neighbour pairs of geometries (1 when forces match energies)."""
    structures = [reader[int(i)] for i in indices]
    flat = np.stack([s.positions.reshape(-1) for s in structures])
    ratios = []
    for a in range(len(structures)):
        distances = np.linalg.norm(flat - flat[a], axis=1)
        distances[distances < 1e-6] = np.inf
        b = int(np.argmin(distances))
        step = structures[b].positions - structures[a].positions
        predicted = -0.5 * ((structures[a].forces + structures[b].forces) * step).sum()
        if abs(predicted) > 1e-4:
            ratios.append((structures[b].energy - structures[a].energy) / predicted)
    return float(np.median(ratios))


def test_ani1_nms_forces_hartree_bohr(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = shared_data / "hdf5_molecular" / "alkane_ani1_layout" / "C2H6_DFT+Force_NMS.h5"
    output = _convert(source, tmp_path / "c2h6.h5", "--forces-unit", "hartree/bohr")
    info = _info(output, capsys)
    assert info["num_structures"] == 10080
    assert info["label_counts"]["forces"] == 10080
    ratio = _finite_difference_ratio(H5Reader(output), np.arange(252))
    assert ratio == pytest.approx(1.0, abs=0.1)


def test_torchani_diatomics(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = shared_data / "hdf5_molecular" / "modelforge_ani2x_diatomics" / "ani2x_minimal.hdf5"
    output = _convert(source, tmp_path / "ani2x.h5")
    info = _info(output, capsys)
    assert info["num_structures"] == 5706
    assert set(info["elements"]) == {"H", "C", "N", "O", "F", "S", "Cl"}
    reader = H5Reader(output)
    molecules = reader.read_column("molecule")
    chosen = np.flatnonzero(molecules == "ClF")
    assert len(chosen) == 938
    # Forces along the bond agree with the slope of the energy curve: hartree/Angstrom was right.
    structures = [reader[int(i)] for i in chosen]
    bond = np.array([np.linalg.norm(s.positions[1] - s.positions[0]) for s in structures])
    along = np.array([s.forces[1] @ (s.positions[1] - s.positions[0]) for s in structures]) / bond
    energies = np.array([s.energy for s in structures])
    order = np.argsort(bond)
    slope = np.gradient(energies[order], bond[order])
    ratio = np.median((-slope / along[order])[5:-5])
    assert ratio == pytest.approx(1.0, abs=0.01)
    with h5py.File(source) as file:
        assert reader[3].energy == pytest.approx(file["002/energies"][3] * units.Hartree, rel=1e-12)


def test_info_text_output(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = shared_data / "dipoles" / "modelforge_spice_ani1x_qm9" / "ani1_n5.hdf5"
    output = _convert(source, tmp_path / "ani1x.h5")
    capsys.readouterr()
    assert main(["info", str(output)]) == 0
    text = capsys.readouterr().out
    assert "structures: 8" in text
    assert "dipole          4 / 8" in text
    assert "units:" in text
    assert "source_format: ani" in text
