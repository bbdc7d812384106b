"""Checks on ``ase.Atoms`` before a model evaluation, with messages that name the bad value."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms


def total_charge_of(atoms: Atoms) -> float:
    """Return the total charge in e from ``atoms.info["charge"]`` (0 when absent)."""
    value = atoms.info.get("charge", 0.0)
    try:
        charge = float(value if value is not None else 0.0)
    except (TypeError, ValueError):
        raise ValueError(f"atoms.info['charge'] must be a number (total charge in e), got {value!r}") from None
    return charge


def check_atoms(atoms: Atoms) -> None:
    """Raise ``ValueError`` if ``atoms`` cannot be evaluated: no atoms, non-finite values or a singular periodic cell."""
    if len(atoms) == 0:
        raise ValueError("the structure has no atoms; give at least one atom")
    positions = atoms.positions
    bad_rows = np.flatnonzero(~np.isfinite(positions).all(axis=1))
    if bad_rows.size:
        index = int(bad_rows[0])
        raise ValueError(
            f"atom {index} ({atoms.get_chemical_symbols()[index]}) has a non-finite position "
            f"{positions[index].tolist()} Angstrom ({bad_rows.size} such atoms); fix the coordinates"
        )
    charge = total_charge_of(atoms)
    if not math.isfinite(charge):
        raise ValueError(f"atoms.info['charge'] is {charge}; set a finite total charge in e")
    if atoms.pbc.any():
        cell = atoms.cell.array
        if not np.isfinite(cell).all():
            raise ValueError(f"the cell contains non-finite values {cell.tolist()}; fix the lattice vectors")
        lengths = np.linalg.norm(cell, axis=1)
        if np.any(lengths[atoms.pbc] == 0):
            raise ValueError(
                f"pbc={atoms.pbc.tolist()} but the cell has a zero lattice vector in a periodic direction "
                f"(lengths {lengths.tolist()} Angstrom); set the cell or turn off pbc in that direction"
            )
        if atoms.pbc.all() and abs(np.linalg.det(cell)) < 1e-9:
            raise ValueError(f"the periodic cell {cell.tolist()} has zero volume; give three independent lattice vectors")
