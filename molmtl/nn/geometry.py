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
    vectors = positions_strained[sender] - positions_strained[receiver]
    edge_cell = cell[batch[receiver]]
    vectors = vectors + torch.bmm(shifts.unsqueeze(1), edge_cell).squeeze(1)
    lengths = torch.linalg.vector_norm(vectors, dim=-1, keepdim=True)
    return Geometry(positions, cell, displacement, vectors, lengths)


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
