"""Labels derived from structures with mdtraj, checked against the TS50 DSSP files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from molmtl.protein.readers import read_dssp
from molmtl.protein.structure_labels import find_structures, labels_from_structure


def _chains_with_repeated_atoms(pdb_folder: Path) -> set[str]:
    """Return the chains whose PDB file repeats an atom name within a residue (altLoc blank)."""
    repeated = set()
    for path in pdb_folder.glob("*.pdb"):
        seen = set()
        for line in path.read_text().splitlines():
            if line.startswith("ATOM"):
                key = line[12:27]
                if key in seen:
                    repeated.add(path.stem)
                    break
                seen.add(key)
    return repeated


@pytest.fixture(scope="module")
def ts50_pairs(shared_data: Path):
    folder = shared_data / "protein_ss_rsa" / "ts50_pdb_dssp"
    pairs = []
    for path in find_structures(folder / "pdb"):
        (derived,) = labels_from_structure(path)
        (reference,) = read_dssp(folder / "dssp" / f"{path.stem}.dssp")
        pairs.append((path.stem, derived, reference))
    return folder, pairs


def test_ts50_sequences_match_dssp(ts50_pairs) -> None:
    _, pairs = ts50_pairs
    assert len(pairs) == 50
    for name, derived, reference in pairs:
        assert derived.sequence == reference.sequence, name


def test_ts50_secondary_structure_agreement(ts50_pairs) -> None:
    _, pairs = ts50_pairs
    same8 = same3 = total = 0
    for _, derived, reference in pairs:
        present = (derived.ss8 >= 0) & (reference.ss8 >= 0)
        same8 += int((derived.ss8[present] == reference.ss8[present]).sum())
        same3 += int((derived.ss3[present] == reference.ss3[present]).sum())
        total += int(present.sum())
    assert total == 6860
    # Measured: 8-state 0.9962, 3-state 0.9990 (mdtraj 1.11 against the 2000 CMBI release of DSSP).
    assert same8 / total > 0.99
    assert same3 / total > 0.995


def test_ts50_accessibility_correlation(ts50_pairs) -> None:
    folder, pairs = ts50_pairs
    repeated = _chains_with_repeated_atoms(folder / "pdb")
    assert len(repeated) > 0
    clean_derived, clean_reference, all_derived, all_reference = [], [], [], []
    for name, derived, reference in pairs:
        all_derived.append(derived.rsa)
        all_reference.append(reference.rsa)
        if name not in repeated:
            clean_derived.append(derived.rsa)
            clean_reference.append(reference.rsa)
    # DSSP counts atoms repeated without an altLoc flag twice and overestimates ACC there,
    # so the strict check uses chains without repeated atoms.
    r_clean = np.corrcoef(np.concatenate(clean_derived), np.concatenate(clean_reference))[0, 1]
    r_all = np.corrcoef(np.concatenate(all_derived), np.concatenate(all_reference))[0, 1]
    assert r_clean > 0.99
    assert r_all > 0.9
    error = np.abs(np.concatenate(clean_derived) - np.concatenate(clean_reference)).mean()
    assert error < 0.03


def test_structure_ignores_water_and_hydrogens(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "protein_ss_rsa" / "ts50_pdb_dssp" / "pdb" / "1ahsA.pdb"
    (reference,) = labels_from_structure(source)
    lines = [line for line in source.read_text().splitlines() if line.startswith("ATOM")]
    first = lines[1]  # CA of the first residue
    x, y, z = float(first[30:38]), float(first[38:46]), float(first[46:54])
    water = f"HETATM99999  O   HOH W   1    {x + 2.0:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00           O"
    hydrogen = first[:12] + " HA " + first[16:30] + f"{x + 1.0:8.3f}{y:8.3f}{z:8.3f}" + first[54:76] + " H"
    path = tmp_path / "with_extras.pdb"
    path.write_text("\n".join([lines[0], lines[1], hydrogen] + lines[2:] + [water, "END"]) + "\n")
    (modified,) = labels_from_structure(path)
    assert modified.sequence == reference.sequence
    np.testing.assert_array_equal(modified.ss8, reference.ss8)
    np.testing.assert_allclose(modified.asa, reference.asa, atol=1e-3)


def test_structure_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        labels_from_structure(tmp_path / "missing.pdb")
    with pytest.raises(ValueError, match="no structure files"):
        find_structures(tmp_path)
