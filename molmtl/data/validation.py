"""Checks that every structure passes before it is written, shared by all importers.

A structure is rejected for non-finite positions, cell or labels, atomic numbers outside
1-118, two atoms (or an atom and a periodic image) closer than :data:`MIN_DISTANCE`, or
arrays whose shapes do not match the number of atoms. Stress is accepted as a 3x3 matrix,
as 9 components (row-major) or as 6 Voigt components in ASE order (xx, yy, zz, yz, xz, xy).

:class:`BadStructurePolicy` applies the ``on_bad`` choice of the importers: ``"error"``
raises at the first bad structure, ``"skip"`` drops it and records its index and reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from molmtl.data.structure import Structure

#: Closest allowed distance between two atoms, Å.
MIN_DISTANCE = 0.1
MAX_ATOMIC_NUMBER = 118

OnBad = Literal["error", "skip"]


class InvalidStructureError(ValueError):
    """A structure that cannot be stored; the message names the value and the fix."""

    def __init__(self, message: str, index: int | None = None) -> None:
        self.reason = message
        self.index = index
        where = f"structure {index}: " if index is not None else ""
        super().__init__(where + message)

    def at(self, index: int) -> InvalidStructureError:
        """Return a copy of this error that names structure ``index``."""
        return InvalidStructureError(self.reason, index)


class InvalidFileError(ValueError):
    """An input file that is empty, truncated or not in the expected layout."""


def stress_to_matrix(stress: object) -> np.ndarray:
    """Convert a stress given as 3x3, 9 or 6 Voigt components (xx, yy, zz, yz, xz, xy) to 3x3.

    Raises :class:`InvalidStructureError` for any other number of components.
    """
    array = np.asarray(stress, dtype=np.float64)
    if array.shape == (3, 3):
        return array
    flat = array.reshape(-1)
    if flat.size == 9:
        return flat.reshape(3, 3)
    if flat.size == 6:
        xx, yy, zz, yz, xz, xy = flat
        return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    raise InvalidStructureError(
        f"stress has {flat.size} components (shape {array.shape}); give 6 Voigt components in the order "
        "xx, yy, zz, yz, xz, xy, or 9 components of the 3x3 matrix"
    )


def check_shape(name: str, array: np.ndarray, expected: tuple[int, ...]) -> None:
    """Raise :class:`InvalidStructureError` when ``array.shape`` differs from ``expected``."""
    if array.shape != expected:
        raise InvalidStructureError(
            f"{name} has shape {array.shape} but shape {expected} is expected; "
            "check that the label belongs to this structure and has one row per atom where per-atom"
        )


def _check_finite(name: str, array: np.ndarray | None) -> None:
    if array is None:
        return
    bad = ~np.isfinite(array)
    if bad.any():
        position = tuple(int(i) for i in np.argwhere(bad)[0]) if array.ndim else ()
        value = array[position] if array.ndim else array
        raise InvalidStructureError(
            f"{name} contains {value} at {position}; remove or repair this structure, or import with "
            "--on-bad skip"
        )


def _check_numbers(numbers: np.ndarray) -> None:
    bad = (numbers < 1) | (numbers > MAX_ATOMIC_NUMBER)
    if bad.any():
        atom = int(np.argmax(bad))
        raise InvalidStructureError(
            f"atom {atom} has atomic number {int(numbers[atom])}, outside 1-{MAX_ATOMIC_NUMBER}; "
            "check the species column of the input"
        )


#: Search radius (Å) for the distance check of periodic structures. A vesin cell list with a
#: radius as small as MIN_DISTANCE creates (box / radius)^3 cells and is slow, so pairs are
#: searched within this radius and then filtered.
_PERIODIC_SEARCH_RADIUS = 1.0


def _closest_pair(structure: Structure, min_distance: float) -> tuple[int, int, np.ndarray, float] | None:
    """Return (i, j, shift, distance) of a pair closer than ``min_distance``, or ``None``."""
    positions = structure.positions
    if not structure.pbc.any():
        from scipy.spatial import cKDTree

        pairs = cKDTree(positions).query_pairs(min_distance, output_type="ndarray")
        if len(pairs) == 0:
            return None
        i, j = (int(k) for k in pairs[0])
        return i, j, np.zeros(3), float(np.linalg.norm(positions[j] - positions[i]))

    from molmtl.data.neighbors import neighbor_list

    edge_index, shifts = neighbor_list(
        positions, structure.cell, structure.pbc, max(min_distance, _PERIODIC_SEARCH_RADIUS)
    )
    if edge_index.shape[1] == 0:
        return None
    vectors = positions[edge_index[1]] - positions[edge_index[0]] + shifts @ structure.cell
    distances = np.linalg.norm(vectors, axis=1)
    close = np.flatnonzero(distances < min_distance)
    if close.size == 0:
        return None
    k = int(close[0])
    return int(edge_index[0, k]), int(edge_index[1, k]), shifts[k], float(distances[k])


def _check_distances(structure: Structure, min_distance: float) -> None:
    if len(structure.numbers) < 2 and not structure.pbc.any():
        return
    pair = _closest_pair(structure, min_distance)
    if pair is None:
        return
    i, j, shift, distance = pair
    image = f" (periodic image {shift.astype(int).tolist()})" if shift.any() else ""
    raise InvalidStructureError(
        f"atoms {i} and {j}{image} are {distance:.4f} Angstrom apart, closer than {min_distance} Angstrom; "
        "check the coordinate units (bohr or nm instead of Angstrom?) or drop duplicate atoms"
    )


def validate_structure(structure: Structure, min_distance: float = MIN_DISTANCE) -> None:
    """Raise :class:`InvalidStructureError` if ``structure`` cannot be stored.

    Shapes are checked when a :class:`~molmtl.data.structure.Structure` is built, and this adds
    the checks on values: finite numbers, atomic numbers in 1-118 and the minimum distance.
    """
    _check_numbers(structure.numbers)
    _check_finite("positions", structure.positions)
    _check_finite("cell", structure.cell)
    _check_finite("total charge", np.asarray(structure.total_charge))
    _check_finite("weight", np.asarray(structure.weight))
    for name in ("energy", "forces", "dipole", "charges", "stress"):
        value = getattr(structure, name)
        _check_finite(name, None if value is None else np.asarray(value))
    _check_distances(structure, min_distance)


@dataclass
class BadStructurePolicy:
    """Applies ``on_bad`` to structures that fail validation and records what was skipped."""

    on_bad: OnBad = "error"
    skipped: list[int] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.on_bad not in ("error", "skip"):
            raise ValueError(f"on_bad must be 'error' or 'skip', not {self.on_bad!r}")

    def handle(self, error: InvalidStructureError, index: int) -> None:
        """Raise ``error`` for structure ``index`` under "error"; record it under "skip"."""
        if self.on_bad == "error":
            raise error.at(index) from None
        self.skipped.append(index)
        self.reasons.append(error.reason)

    def summary(self, max_indices: int = 20) -> str:
        """Describe the skipped structures in one line (empty when none were skipped)."""
        if not self.skipped:
            return ""
        listed = ", ".join(str(i) for i in self.skipped[:max_indices])
        more = f" and {len(self.skipped) - max_indices} more" if len(self.skipped) > max_indices else ""
        return (
            f"skipped {len(self.skipped)} invalid structures (input indices {listed}{more}); "
            f"first reason: {self.reasons[0]}"
        )
