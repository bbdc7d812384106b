"""Edge vectors from positions, cell and integer shifts, with the strain used for the stress."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Geometry:
    """Positions and edge vectors of a batch, in the model's dtype.

    ``positions`` [N, 3] and ``displacement`` [B, 3, 3] are the leaves that forces and stress
    differentiate against (``displacement`` is ``None`` unless the stress is requested).
    ``vectors`` [E, 3] are ``r_ij = pos[j] - pos[i] + shifts @ cell`` (Å), ``lengths`` [E, 1].
    """

    positions: torch.Tensor
    cell: torch.Tensor
    displacement: torch.Tensor | None
    vectors: torch.Tensor
    lengths: torch.Tensor


def build_geometry(
    positions: torch.Tensor,
    cell: torch.Tensor,
    edge_index: torch.Tensor,
    shifts: torch.Tensor,
    batch: torch.Tensor,
    num_graphs: int,
    compute_forces: bool,
    compute_stress: bool,
) -> Geometry:
    """Build edge vectors; mark positions and a strain as autograd leaves when gradients are needed.

    Strain convention: a symmetric strain ``eps`` maps every position and lattice vector
    ``x -> x (1 + eps)`` (row vectors), so ``dE/d(eps)`` gives the virial and the stress (see
    :mod:`molmtl.nn.gradients`). Integer ``shifts`` multiply the strained cell, so the
    strain reaches the periodic images too.
    """
    positions = positions.detach().clone()
    cell = cell.reshape(num_graphs, 3, 3)
    displacement = None
    if compute_forces or compute_stress:
        positions.requires_grad_(True)
    if compute_stress:
        displacement = torch.zeros(num_graphs, 3, 3, dtype=positions.dtype, device=positions.device)
        displacement.requires_grad_(True)
        symmetric = 0.5 * (displacement + displacement.transpose(1, 2))
        positions_strained = positions + torch.bmm(positions.unsqueeze(1), symmetric[batch]).squeeze(1)
        cell = cell + torch.bmm(cell, symmetric)
    else:
        positions_strained = positions
    sender = edge_index[1]
    receiver = edge_index[0]
    vectors = positions_strained.index_select(0, sender) - positions_strained.index_select(0, receiver)
    if num_graphs == 1:
        vectors = vectors + shifts @ cell[0]
    else:
        edge_cell = cell.index_select(0, batch.index_select(0, receiver))
        vectors = vectors + (shifts.unsqueeze(-1) * edge_cell).sum(dim=1)
    lengths = torch.linalg.vector_norm(vectors, dim=-1, keepdim=True)
    return Geometry(positions, cell, displacement, vectors, lengths)


@dataclass
class EdgePairs:
    """Edges grouped with their reverse edges.

    ``representative`` [U] is one edge of each group and ``inverse`` [E] the group of each
    edge. An edge ``(i, j, S)`` and its reverse ``(j, i, -S)`` have the same length for every
    geometry, so anything that depends on the length alone can be computed on the
    representatives and copied with ``inverse``, forces included.
    """

    representative: torch.Tensor
    inverse: torch.Tensor


#: Below this many edges, grouping costs more than it saves.
MIN_EDGES_TO_PAIR = 512


def pair_edges(
    edge_index: torch.Tensor, shifts: torch.Tensor, num_nodes: int, min_edges: int = 0
) -> EdgePairs | None:
    """Group each edge ``(i, j, S)`` with its reverse ``(j, i, -S)``.

    Returns ``None`` when no edge has its reverse in the list, or when there are fewer than
    ``min_edges`` edges.

    Edges are matched by atom indices and integer shifts, never by their lengths: two
    unrelated edges of equal length (as in a perfect crystal) are different functions of the
    positions and stay apart. A full neighbour list has every reverse edge, so the groups
    halve the number of radial evaluations; a list without reverse edges gives ``None``.
    """
    num_edges = edge_index.shape[1]
    if num_edges < max(min_edges, 2):
        return None
    with torch.no_grad():
        integer_shifts = shifts.round().to(torch.int64)
        base = 2 * int(integer_shifts.abs().max()) + 1
        if float(num_nodes) ** 2 * float(base) ** 3 >= 2.0**62:
            return None
        sender, receiver = edge_index[1], edge_index[0]
        lexicographic = (integer_shifts[:, 0] * base + integer_shifts[:, 1]) * base + integer_shifts[:, 2]
        swap = (receiver > sender) | ((receiver == sender) & (lexicographic < 0))
        first = torch.where(swap, sender, receiver)
        second = torch.where(swap, receiver, sender)
        code = torch.where(swap, -lexicographic, lexicographic) + (base**3 - 1) // 2
        key = (first * num_nodes + second) * base**3 + code
        unique, inverse = torch.unique(key, return_inverse=True)
        if unique.numel() == num_edges:
            return None
        representative = torch.empty(unique.numel(), dtype=torch.int64, device=key.device)
        representative.scatter_(0, inverse, torch.arange(num_edges, device=key.device))
    return EdgePairs(representative=representative, inverse=inverse)


def check_finite_positions(positions: torch.Tensor, batch: torch.Tensor, ptr: torch.Tensor) -> None:
    """Raise ``ValueError`` naming the first atom with a NaN or infinite coordinate."""
    finite = torch.isfinite(positions).all(dim=-1)
    if bool(finite.all()):
        return
    atom = int(torch.nonzero(~finite)[0, 0])
    graph = int(batch[atom])
    raise ValueError(
        f"non-finite position of atom {atom - int(ptr[graph])} in structure {graph} of the batch: "
        f"{positions[atom].tolist()}; check the input coordinates"
    )


def check_min_distance(
    lengths: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor, ptr: torch.Tensor, min_distance: float
) -> None:
    """Raise ``ValueError`` naming the first pair of atoms closer than ``min_distance`` (Å)."""
    if lengths.numel() == 0 or min_distance <= 0:
        return
    with torch.no_grad():
        too_close = lengths.squeeze(-1) < min_distance
        if not bool(too_close.any()):
            return
        edge = int(torch.nonzero(too_close)[0, 0])
    i, j = int(edge_index[0, edge]), int(edge_index[1, edge])
    graph = int(batch[i])
    start = int(ptr[graph])
    raise ValueError(
        f"atoms {i - start} and {j - start} of structure {graph} in the batch are "
        f"{float(lengths[edge]):.4g} Angstrom apart, closer than {min_distance} Angstrom; "
        "check the geometry for overlapping or duplicated atoms"
    )
