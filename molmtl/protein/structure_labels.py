"""Per-residue labels derived from 3D structures with mdtraj.

Secondary structure comes from :func:`mdtraj.compute_dssp` with ``simplified=False`` (mdtraj's
implementation of the Kabsch-Sander DSSP hydrogen-bond rules, 8 states). Solvent accessible
surface area comes from :func:`mdtraj.shrake_rupley` (Shrake & Rupley 1973) per residue, with a
1.4 Å probe. It uses heavy atoms only, because DSSP ignores hydrogens too. The area is
converted from nm^2 to Å^2 and then to RSA with the theoretical maximum-ASA table of
Tien et al. (2013).

Scope and policy:

* Only the first model of a multi-model file is used.
* Water, ions and ligands are removed before both calculations, so a ligand does not bury
  residues. All protein chains in the file stay together, so interface residues count as
  buried, as in DSSP run on the whole file.
* Residues that mdtraj does not recognise as amino acids are dropped; recognised modified
  residues without a one-letter code become ``X`` (no RSA label, see :mod:`molmtl.protein.alphabet`).
* A repeated atom name within one residue (alternate locations written without the altLoc
  flag) keeps its first occurrence, as DSSP does.
* A residue without a complete backbone (N, CA, C, O) gets a missing secondary-structure label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from molmtl.protein.labels import MISSING, ss8_indices, relative_accessibility
from molmtl.protein.record import ProteinRecord

#: Probe radius for the Shrake-Rupley calculation in Å (water, as in DSSP).
PROBE_RADIUS = 1.4
STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".pdb.gz", ".ent.gz")


def labels_from_structure(path: str | Path, n_sphere_points: int = 960) -> list[ProteinRecord]:
    """Return one :class:`ProteinRecord` per protein chain of the structure file ``path``.

    Records carry ``ss8`` (and the derived ``ss3``), ``asa`` in Å^2 and ``rsa``. The record id is
    ``<file stem>`` for a single-chain file and ``<file stem>_<chain id>`` otherwise.
    """
    import mdtraj

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"structure file not found: {path}")
    try:
        trajectory = mdtraj.load_frame(str(path), 0)
    except Exception as error:  # mdtraj raises several types for malformed files
        raise ValueError(f"{path}: mdtraj could not read the structure ({error})") from error
    topology = trajectory.topology
    protein_atoms = []
    seen: set[tuple[int, str]] = set()
    for atom in topology.atoms:
        key = (atom.residue.index, atom.name)
        if not atom.residue.is_protein or atom.element.symbol == "H" or key in seen:
            continue
        seen.add(key)
        protein_atoms.append(atom.index)
    if not protein_atoms:
        raise ValueError(f"{path}: the file contains no protein residues")
    protein = trajectory.atom_slice(protein_atoms)

    secondary = mdtraj.compute_dssp(protein, simplified=False)[0]
    area = mdtraj.shrake_rupley(
        protein, probe_radius=PROBE_RADIUS / 10.0, n_sphere_points=n_sphere_points, mode="residue"
    )[0] * 100.0  # nm^2 -> Å^2

    chains: dict[str, dict[str, list]] = {}
    for residue in protein.topology.residues:
        chain_id = residue.chain.chain_id or str(residue.chain.index)
        data = chains.setdefault(chain_id, {"sequence": [], "ss8": [], "asa": []})
        data["sequence"].append(residue.code or "X")
        state = secondary[residue.index]
        data["ss8"].append("?" if state == "NA" else state)
        data["asa"].append(area[residue.index])

    records = []
    for chain_id, data in chains.items():
        sequence = "".join(data["sequence"])
        asa = np.array(data["asa"], dtype=np.float64)
        ss8 = ss8_indices("".join(data["ss8"]), f"{path}:{chain_id}")
        name = path.name.split(".")[0] if len(chains) == 1 else f"{path.name.split('.')[0]}_{chain_id}"
        records.append(
            ProteinRecord(
                name,
                sequence,
                ss8=ss8,
                rsa=relative_accessibility(asa, sequence),
                asa=asa,
                metadata={"chain": chain_id, "source": str(path)},
            )
        )
    return records


def find_structures(folder: str | Path) -> list[Path]:
    """Return the structure files (``.pdb``, ``.ent``, ``.cif``, gzipped PDB) in ``folder``, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder of structure files")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(STRUCTURE_SUFFIXES))
    if not files:
        raise ValueError(f"{folder}: no structure files found (expected {', '.join(STRUCTURE_SUFFIXES)})")
    return files


__all__ = ["MISSING", "PROBE_RADIUS", "find_structures", "labels_from_structure"]
