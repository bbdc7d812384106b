"""Radius neighbour lists (vesin) and the conversion of ASE ``Atoms`` to torch-geometric ``Data``.

The list is full: every pair appears as ``(i, j)`` and ``(j, i)``. Periodic images are
included through integer ``shifts`` so that ``r_ij = pos[j] - pos[i] + shifts @ cell``
(see :mod:`molmtl.data.keys`). vesin (0.6) searches as many images as the cutoff needs,
so cells shorter than the cutoff, and an atom's own images, are handled. This module adds
the checks vesin does not make (a periodic direction with a zero lattice vector).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
    from ase import Atoms
    from torch_geometric.data import Data

_ZERO_CELL = np.zeros((3, 3))


def neighbor_list(
    positions: np.ndarray, cell: np.ndarray | None, pbc: np.ndarray | bool, cutoff: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return the full neighbour list within ``cutoff`` (Å).

    Returns ``edge_index`` [2, E] int64 with ``edge_index[0] = i`` (centre) and
    ``edge_index[1] = j`` (neighbour), and ``shifts`` [E, 3] float64 integer lattice
    translations. An atom is never its own neighbour at zero shift, but it is its own
    neighbour through a periodic image within ``cutoff``.
    """
    import vesin

    if not cutoff > 0:
        raise ValueError(f"cutoff must be positive, got {cutoff}")
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    periodic = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
    box = _ZERO_CELL if cell is None else np.ascontiguousarray(cell, dtype=np.float64)
    if periodic.any():
        lengths = np.linalg.norm(box, axis=1)
        if np.any(lengths[periodic] == 0):
            raise ValueError(
                f"the cell has a zero lattice vector in a periodic direction (pbc={periodic.tolist()}, "
                f"cell lengths {lengths.tolist()} Angstrom); set the cell or make that direction non-periodic"
            )
    elif box is not _ZERO_CELL and box.any():
        box = _ZERO_CELL
    calculator = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    # copy=False returns views into the calculator, so they are copied below before it is freed.
    i, j, shifts = calculator.compute(
        positions, box, periodic.tolist() if periodic.any() else False, "ijS", copy=False
    )
    edge_index = np.empty((2, len(i)), dtype=np.int64)
    edge_index[0] = i
    edge_index[1] = j
    return edge_index, shifts.astype(np.float64)


def atoms_to_data(
    atoms: Atoms,
    cutoff: float,
    dtype: torch.dtype | None = None,
    total_charge: float | None = None,
) -> Data:
    """Convert ASE ``Atoms`` to an unlabelled ``Data``.

    The keys, shapes and neighbour list are those of :class:`~molmtl.data.dataset.H5Dataset` items.
    ``total_charge`` (e) defaults to ``atoms.info["charge"]``, then 0. The spin
    multiplicity comes from ``atoms.info["spin_multiplicity"]`` (0 = unknown).
    """
    import torch

    dtype = torch.float64 if dtype is None else dtype
    if total_charge is None:
        total_charge = float(atoms.info.get("charge", 0.0))
    spin = int(atoms.info.get("spin_multiplicity", 0) or 0)
    return build_data(
        numbers=atoms.numbers,
        positions=atoms.positions,
        cell=atoms.cell.array,
        pbc=atoms.pbc,
        total_charge=total_charge,
        cutoff=cutoff,
        dtype=dtype,
        spin_multiplicity=spin,
    )


def build_data(
    numbers: np.ndarray,
    positions: np.ndarray,
    cell: np.ndarray,
    pbc: np.ndarray,
    total_charge: float,
    cutoff: float,
    dtype: torch.dtype,
    weight: float = 1.0,
    spin_multiplicity: int = 0,
) -> Data:
    """Build the input part of a ``Data``: positions, cell, charge and neighbour list, without labels."""
    import torch
    from torch_geometric.data import Data

    from molmtl.data import keys

    edge_index, shifts = neighbor_list(positions, cell, pbc, cutoff)
    data = Data()
    data[keys.POSITIONS] = torch.as_tensor(positions, dtype=dtype)
    data[keys.ATOMIC_NUMBERS] = torch.as_tensor(np.asarray(numbers, dtype=np.int64))
    data[keys.CELL] = torch.as_tensor(cell, dtype=dtype).reshape(1, 3, 3)
    data[keys.PBC] = torch.as_tensor(np.asarray(pbc, dtype=bool)).reshape(1, 3)
    data[keys.TOTAL_CHARGE] = torch.tensor([total_charge], dtype=dtype)
    data[keys.EDGE_INDEX] = torch.from_numpy(edge_index)
    data[keys.SHIFTS] = torch.from_numpy(shifts).to(dtype)
    data[keys.WEIGHT] = torch.tensor([weight], dtype=dtype)
    data[keys.SPIN_MULTIPLICITY] = torch.tensor([spin_multiplicity], dtype=torch.int64)
    return data
