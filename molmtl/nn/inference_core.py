"""A tensor-only evaluation of one structure, with forces and virial, that torch.export can trace.

:class:`~molmtl.nn.model.MolMTLModel.forward` takes a torch-geometric ``Data``, checks its
input in Python and supports batches. None of that can go into an ahead-of-time compiled
graph. :class:`InferenceCore` is the same model on plain tensors of one structure, with
the derivatives inside the function:

* the neighbour list is a *half* list, one entry per pair of atoms. The full list that the
  encoder reads is the half list and its reverse edges, and the radial MLP runs once per
  pair (as :func:`~molmtl.nn.geometry.pair_edges` arranges in the eager model);
* forces ``F = -dE/dr`` and the virial ``W = -dE/d(eps)`` are computed with
  ``torch.autograd.grad`` on a symmetric strain ``eps`` that maps positions and lattice
  vectors ``x -> x (1 + eps)``, the convention of :mod:`molmtl.nn.gradients`. The stress of
  a periodic structure is ``-W / V``; the caller divides by the volume.

Input checks (unknown elements, non-finite or overlapping atoms) are the caller's job;
:class:`~molmtl.calculators.ase_calculator.MolMTLCalculator` does them in NumPy.
"""

from __future__ import annotations

import torch
from torch import nn

from molmtl.nn.geometry import EdgePairs
from molmtl.nn.model import MolMTLModel

#: Inputs of :meth:`InferenceCore.forward`, in order.
INPUT_NAMES = ("positions", "element", "edge_index", "shifts", "cell", "total_charge")


class InferenceCore(nn.Module):
    """Energy, forces, virial, and the dipole and charges where the model has those heads, for one structure.

    ``forward(positions, element, edge_index, shifts, cell, total_charge)`` takes

    * ``positions`` [N, 3] (Å) and ``cell`` [3, 3] (Å, lattice vectors as rows; zeros for a
      molecule) in the model's dtype;
    * ``element`` [N] int64: indices into the model's element list, not atomic numbers;
    * ``edge_index`` [2, H] int64: one entry ``(i, j)`` per pair, for the edge vector
      ``r_j - r_i + shifts @ cell``; the reverse edge is added here;
    * ``shifts`` [H, 3] integer cell shifts in the model's dtype;
    * ``total_charge`` [1] float64 (e).

    It returns the tuple named by :attr:`output_names`. These are ``energy`` [1] and
    ``node_energy`` [N] (eV, float64), then ``forces`` [N, 3] (eV/Å) and ``virial`` [3, 3]
    (eV) in the model's dtype. Models with those heads add ``dipole`` [3] (e·Å, float64) and
    ``charges`` [N] (e, float64).
    """

    def __init__(self, model: MolMTLModel) -> None:
        super().__init__()
        self.model = model
        names = ["energy", "node_energy", "forces", "virial"]
        names += [name for name in ("dipole", "charges") if name in model.heads]
        self.output_names: tuple[str, ...] = tuple(names)

    def forward(
        self,
        positions: torch.Tensor,
        element: torch.Tensor,
        edge_index: torch.Tensor,
        shifts: torch.Tensor,
        cell: torch.Tensor,
        total_charge: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        """Evaluate the model and its derivatives; see the class docstring for shapes and units."""
        positions = positions.detach().requires_grad_(True)
        displacement = torch.zeros(3, 3, dtype=positions.dtype, device=positions.device).requires_grad_(True)
        strain = 0.5 * (displacement + displacement.transpose(0, 1))
        strained_positions = positions + positions @ strain
        strained_cell = cell + cell @ strain

        receiver, sender = edge_index[0], edge_index[1]
        half_vectors = (
            strained_positions.index_select(0, sender)
            - strained_positions.index_select(0, receiver)
            + shifts @ strained_cell
        )
        half_lengths = torch.linalg.vector_norm(half_vectors, dim=-1, keepdim=True)
        num_pairs = edge_index.shape[1]
        pair = torch.arange(num_pairs, device=positions.device)
        outputs = self.model.readout(
            element,
            positions,
            torch.cat([half_vectors, -half_vectors], dim=0),
            torch.cat([half_lengths, half_lengths], dim=0),
            torch.cat([edge_index, edge_index.flip(0)], dim=1),
            EdgePairs(representative=pair, inverse=torch.cat([pair, pair])),
            torch.zeros(positions.shape[0], dtype=torch.int64, device=positions.device),
            total_charge.reshape(1).to(torch.float64),
            torch.full((1,), positions.shape[0], dtype=torch.float64, device=positions.device),
        )

        gradient, strain_gradient = torch.autograd.grad(outputs["energy"].sum(), [positions, displacement])
        outputs["forces"] = -gradient
        outputs["virial"] = -strain_gradient
        return tuple(outputs[name] for name in self.output_names)
