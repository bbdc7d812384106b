"""Verlet (skin) neighbour list for MD: build once with ``cutoff + skin``, reuse while atoms move little.

A pair farther apart than ``cutoff + skin`` at build time cannot come within ``cutoff``
until the two atoms have moved a combined ``skin``, so the list stays complete while no
atom has moved more than ``skin / 2`` from its position at build time. Every call filters
the stored pairs to the current distances below ``cutoff``, so the returned pairs are the
same set as a fresh :func:`molmtl.data.neighbors.neighbor_list` with ``cutoff`` (the order
can differ; it is sorted by ``i``, then ``j``, then shift).

The cell is not part of that argument, so the list is rebuilt whenever the cell, the
periodic directions or the atoms (count or atomic numbers) change.

With ``half=True`` the list holds one entry per pair: ``(i, j, S)`` is kept and its reverse
``(j, i, -S)`` dropped when ``i < j``, or when ``i == j`` and the first non-zero component of
``S`` is positive. Distances are symmetric in floating point (the reverse vector is the exact
negative), so the filter keeps or drops both directions of a pair together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from molmtl.data.neighbors import neighbor_list


@dataclass
class _Reference:
    """State of the system when the padded list was built."""

    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    edge_index: np.ndarray
    shifts: np.ndarray


class SkinNeighborList:
    """Neighbour list within ``cutoff`` (Å) that is rebuilt only when an atom moved more than ``skin / 2``.

    ``skin = 0`` rebuilds on every position change. ``half`` keeps one entry per pair (see the
    module docstring). ``rebuild_count`` counts the full searches, which is what the skin saves.
    """

    def __init__(self, cutoff: float, skin: float = 1.0, half: bool = False) -> None:
        if not cutoff > 0:
            raise ValueError(f"cutoff must be positive, got {cutoff} Angstrom")
        if not skin >= 0:
            raise ValueError(f"skin must be zero or positive, got {skin} Angstrom")
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.half = bool(half)
        self.rebuild_count = 0
        #: Squared lengths (Å^2) of the pairs returned by the last :meth:`update`.
        self.squared_lengths = np.zeros(0)
        self._reference: _Reference | None = None

    def reset(self) -> None:
        """Forget the stored list so that the next call searches from scratch."""
        self._reference = None

    def needs_rebuild(self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> bool:
        """Return True when the stored list may miss a pair within the cutoff for these positions."""
        reference = self._reference
        if reference is None:
            return True
        if positions.shape != reference.positions.shape:
            return True
        if not np.array_equal(pbc, reference.pbc) or not np.array_equal(cell, reference.cell):
            return True
        displacement = np.linalg.norm(positions - reference.positions, axis=1)
        return bool(displacement.max(initial=0.0) > 0.5 * self.skin)

    def update(self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(edge_index [2, E] int64, shifts [E, 3] float64)`` for pairs closer than ``cutoff``.

        ``cell`` has lattice vectors as rows (Å) and ``pbc`` the three periodic flags, as in
        :func:`molmtl.data.neighbors.neighbor_list`.
        """
        positions = np.asarray(positions, dtype=np.float64)
        cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
        pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy()
        if self.needs_rebuild(positions, cell, pbc):
            edge_index, shifts = neighbor_list(positions, cell, pbc, self.cutoff + self.skin)
            if self.half:
                edge_index, shifts = _one_direction(edge_index, shifts)
            order = np.lexsort((shifts[:, 2], shifts[:, 1], shifts[:, 0], edge_index[1], edge_index[0]))
            self._reference = _Reference(positions.copy(), cell.copy(), pbc, edge_index[:, order], shifts[order])
            self.rebuild_count += 1
        return self._filter(positions)

    def _filter(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keep the stored pairs whose current distance is below the cutoff."""
        reference = self._reference
        assert reference is not None
        i, j = reference.edge_index
        vectors = positions[j] - positions[i] + reference.shifts @ reference.cell
        squared = np.einsum("ij,ij->i", vectors, vectors)
        keep = squared < self.cutoff**2
        self.squared_lengths = squared[keep]
        return np.ascontiguousarray(reference.edge_index[:, keep]), reference.shifts[keep]


def _one_direction(edge_index: np.ndarray, shifts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep one of the two directions of every pair of a full list (see the module docstring)."""
    i, j = edge_index
    nonzero = shifts != 0
    first = np.argmax(nonzero, axis=1)
    leading = shifts[np.arange(len(shifts)), first]
    keep = (i < j) | ((i == j) & (leading > 0))
    return edge_index[:, keep], shifts[keep]
