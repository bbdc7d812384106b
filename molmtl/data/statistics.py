"""Dataset statistics for normalising a model: E0 per element, label means and RMS, neighbour count.

Every function reads a molmtl HDF5 file in blocks of structures, so memory does not grow with
the file. ``indices`` restricts a statistic to those structures (for example the training
split). Results are plain dicts and floats in ASE units.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from molmtl.data import keys
from molmtl.data.reader import H5Reader
from molmtl.data.structure import Structure

BLOCK_STRUCTURES = 4096
#: Number of element columns tracked (atomic numbers 0-118).
NUM_ELEMENTS = 119


@dataclass
class _Block:
    """Arrays of one block of structures, restricted to the selected ones."""

    selected: np.ndarray  # [B] bool, structure is in ``indices``
    atom_counts: np.ndarray  # [B]
    numbers: np.ndarray  # [A] atoms of the whole block
    structure_of_atom: np.ndarray  # [A] position of each atom's structure in the block
    reader: H5Reader
    start: int
    stop: int

    def column(self, name: str) -> np.ndarray:
        return self.reader._dataset(name)[self.start : self.stop]

    def atom_column(self, name: str) -> np.ndarray:
        offsets = self.reader.offsets
        return self.reader._dataset(name)[offsets[self.start] : offsets[self.stop]]


def _open(source: str | os.PathLike[str] | H5Reader) -> H5Reader:
    return source if isinstance(source, H5Reader) else H5Reader(source)


def _blocks(reader: H5Reader, indices: Sequence[int] | np.ndarray | None) -> Iterator[_Block]:
    total = len(reader)
    wanted = np.ones(total, dtype=bool)
    if indices is not None:
        wanted[:] = False
        wanted[np.asarray(indices, dtype=np.int64)] = True
    offsets = reader.offsets
    for start in range(0, total, BLOCK_STRUCTURES):
        stop = min(start + BLOCK_STRUCTURES, total)
        selected = wanted[start:stop]
        if not selected.any():
            continue
        counts = np.diff(offsets[start : stop + 1])
        numbers = reader._dataset(keys.ATOMIC_NUMBERS)[offsets[start] : offsets[stop]].astype(np.int64)
        structure_of_atom = np.repeat(np.arange(stop - start), counts)
        yield _Block(selected, counts, numbers, structure_of_atom, reader, start, stop)


def _element_counts(block: _Block) -> np.ndarray:
    """Return [B, NUM_ELEMENTS] counts of each element per structure of the block."""
    counts = np.zeros((len(block.atom_counts), NUM_ELEMENTS))
    np.add.at(counts, (block.structure_of_atom, block.numbers), 1.0)
    return counts


def fit_e0(
    source: str | os.PathLike[str] | H5Reader,
    indices: Sequence[int] | np.ndarray | None = None,
) -> dict[int, float]:
    """Fit per-element reference energies E0 (eV) by least squares, E ≈ sum_i E0[Z_i].

    Uses the structures that have an energy label, and accumulates the normal equations
    block by block. When the compositions do not determine every E0 (fewer distinct
    compositions than elements, e.g. one molecule), the minimum-norm solution is returned and
    a ``UserWarning`` suggests isolated-atom energies instead. Raises ``ValueError`` without
    energies.
    """
    reader = _open(source)
    normal = np.zeros((NUM_ELEMENTS, NUM_ELEMENTS))
    rhs = np.zeros(NUM_ELEMENTS)
    used = 0
    for block in _blocks(reader, indices):
        rows = block.selected & block.column(keys.mask_key(keys.ENERGY))
        if not rows.any():
            continue
        counts = _element_counts(block)[rows]
        energies = block.column(keys.ENERGY)[rows]
        normal += counts.T @ counts
        rhs += counts.T @ energies
        used += int(rows.sum())
    if used == 0:
        raise ValueError(
            f"{reader.path} has no structure with an energy in the selection; E0 cannot be fitted"
        )
    present = np.flatnonzero(np.diag(normal) > 0)
    system = normal[np.ix_(present, present)]
    solution, _, rank, _ = np.linalg.lstsq(system, rhs[present], rcond=1e-10)
    if rank < len(present):
        warnings.warn(
            f"the compositions in {reader.path} determine only {rank} of {len(present)} element "
            "reference energies; "
            "the fitted E0 are one of many exact fits and not physical, use isolated-atom energies "
            "(e0_from_isolated_atoms) instead",
            UserWarning,
            stacklevel=2,
        )
    return {int(z): float(e) for z, e in zip(present, solution)}


def e0_from_isolated_atoms(structures: Iterable[Structure]) -> dict[int, float]:
    """Return E0 (eV) per element from single-atom, non-periodic structures with an energy.

    Raises ``ValueError`` when one element has two different isolated-atom energies.
    """
    e0: dict[int, float] = {}
    for structure in structures:
        if len(structure) != 1 or structure.energy is None or structure.pbc.any():
            continue
        element = int(structure.numbers[0])
        if element in e0 and not np.isclose(e0[element], structure.energy):
            raise ValueError(
                f"element {element} has two isolated-atom energies, {e0[element]} and {structure.energy} "
                "eV; keep one"
            )
        e0[element] = float(structure.energy)
    return e0


def _e0_vector(e0: dict[int, float] | None) -> np.ndarray:
    vector = np.zeros(NUM_ELEMENTS)
    for z, value in (e0 or {}).items():
        vector[int(z)] = value
    return vector


def label_statistics(
    source: str | os.PathLike[str] | H5Reader,
    e0: dict[int, float] | None = None,
    indices: Sequence[int] | np.ndarray | None = None,
) -> dict[str, float | int]:
    """Return means and RMS values of the labels, for normalising a model.

    * ``energy_per_atom_mean`` and ``energy_per_atom_rms`` (eV/atom): of (E - sum E0) / N
      over structures with an energy (``e0`` missing elements count as 0);
    * ``forces_rms`` (eV/Å): RMS of all force components;
    * ``dipole_mean`` ([3], e·Å) and ``dipole_rms`` (e·Å): RMS of the dipole components;
    * ``charges_mean`` and ``charges_rms`` (e), ``stress_rms`` (eV/Å^3);
    * ``count_<label>``: number of structures that carry each label.

    Values of a label without data are NaN.
    """
    reader = _open(source)
    e0_vector = _e0_vector(e0)
    sums = {name: 0.0 for name in ("epa", "epa2", "f2", "d2", "q", "q2", "s2")}
    dipole_sum = np.zeros(3)
    counts = {
        name: 0
        for name in ("energy", "forces_components", "forces", "dipole", "charges_atoms", "charges", "stress")
    }
    for block in _blocks(reader, indices):
        atom_selected = block.selected[block.structure_of_atom]
        energy_rows = block.selected & block.column(keys.mask_key(keys.ENERGY))
        if energy_rows.any():
            reference = np.bincount(
                block.structure_of_atom, weights=e0_vector[block.numbers], minlength=len(block.atom_counts)
            )
            per_atom = ((block.column(keys.ENERGY) - reference) / block.atom_counts)[energy_rows]
            sums["epa"] += per_atom.sum()
            sums["epa2"] += (per_atom**2).sum()
            counts["energy"] += per_atom.size
        force_rows = block.selected & block.column(keys.mask_key(keys.FORCES))
        if force_rows.any():
            forces = block.atom_column(keys.FORCES)[force_rows[block.structure_of_atom] & atom_selected]
            sums["f2"] += (forces**2).sum()
            counts["forces_components"] += forces.size
            counts["forces"] += int(force_rows.sum())
        dipole_rows = block.selected & block.column(keys.mask_key(keys.DIPOLE))
        if dipole_rows.any():
            dipoles = block.column(keys.DIPOLE)[dipole_rows]
            dipole_sum += dipoles.sum(axis=0)
            sums["d2"] += (dipoles**2).sum()
            counts["dipole"] += len(dipoles)
        charge_rows = block.selected & block.column(keys.mask_key(keys.CHARGES))
        if charge_rows.any():
            charges = block.atom_column(keys.CHARGES)[charge_rows[block.structure_of_atom]]
            sums["q"] += charges.sum()
            sums["q2"] += (charges**2).sum()
            counts["charges_atoms"] += charges.size
            counts["charges"] += int(charge_rows.sum())
        stress_rows = block.selected & block.column(keys.mask_key(keys.STRESS))
        if stress_rows.any():
            sums["s2"] += (block.column(keys.STRESS)[stress_rows] ** 2).sum()
            counts["stress"] += int(stress_rows.sum())

    def ratio(total: float, count: int) -> float:
        return total / count if count else float("nan")

    return {
        "energy_per_atom_mean": float(ratio(sums["epa"], counts["energy"])),
        "energy_per_atom_rms": float(np.sqrt(ratio(sums["epa2"], counts["energy"]))),
        "forces_rms": float(np.sqrt(ratio(sums["f2"], counts["forces_components"]))),
        "dipole_mean": (dipole_sum / counts["dipole"]).tolist() if counts["dipole"] else [float("nan")] * 3,
        "dipole_rms": float(np.sqrt(ratio(sums["d2"], 3 * counts["dipole"]))),
        "charges_mean": float(ratio(sums["q"], counts["charges_atoms"])),
        "charges_rms": float(np.sqrt(ratio(sums["q2"], counts["charges_atoms"]))),
        "stress_rms": float(np.sqrt(ratio(sums["s2"], 9 * counts["stress"]))),
        "count_energy": counts["energy"],
        "count_forces": counts["forces"],
        "count_dipole": counts["dipole"],
        "count_charges": counts["charges"],
        "count_stress": counts["stress"],
    }


def average_num_neighbors(
    source: str | os.PathLike[str] | H5Reader,
    cutoff: float,
    indices: Sequence[int] | np.ndarray | None = None,
    max_structures: int | None = None,
    seed: int = 0,
) -> float:
    """Return the mean number of neighbours per atom within ``cutoff`` (Å), periodic images included.

    With ``max_structures`` a seeded random sample of that many structures is used, which
    keeps the cost bounded on large files.
    """
    from molmtl.data.neighbors import neighbor_list

    reader = _open(source)
    chosen = np.arange(len(reader)) if indices is None else np.asarray(indices, dtype=np.int64)
    if max_structures is not None and len(chosen) > max_structures:
        chosen = np.sort(np.random.default_rng(seed).choice(chosen, size=max_structures, replace=False))
    edges = 0
    atoms = 0
    for index in chosen:
        record = reader.read_arrays(int(index))
        edge_index, _ = neighbor_list(record[keys.POSITIONS], record[keys.CELL], record[keys.PBC], cutoff)
        edges += edge_index.shape[1]
        atoms += len(record[keys.POSITIONS])
    if atoms == 0:
        raise ValueError("no structures selected; the average number of neighbours is undefined")
    return edges / atoms
