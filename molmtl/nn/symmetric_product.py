"""Higher body order by channel-wise symmetric products of node features, in the spirit of MACE.

MACE (Batatia et al., NeurIPS 2022) builds many-body features from powers of the atomic
basis ``A_i`` of each channel, coupled back to irreps, with weights that depend on the
element of atom ``i``. This module builds the same kind of basis by repeated channel-wise
tensor products: ``A``, ``A (x) A`` and ``(A (x) A) (x) A`` for correlation orders 1, 2 and 3.
Couplings that vanish by symmetry (the antisymmetric part of ``A_c (x) A_c``) are left out.
"""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from molmtl.nn.irreps import IrrepLayout, build_coupling


class SymmetricProduct(nn.Module):
    """Map ``A`` [N, C, D] to the products of ``A`` up to ``correlation_order``, scaled per element.

    The output [N, C, D_out] concatenates ``A`` and its products (layout :attr:`layout_out`,
    blocks grouped by irrep); every (element, block, channel) has its own weight. Without
    neighbours ``A = 0`` and the output is exactly 0 (no constant term).
    """

    def __init__(
        self,
        layout_in: IrrepLayout,
        targets: list[o3.Irrep],
        correlation_order: int,
        channels: int,
        num_elements: int,
        intermediate_l_max: int,
    ) -> None:
        super().__init__()
        intermediate = [o3.Irrep(l, p) for l in range(intermediate_l_max + 1) for p in (1, -1)]
        couplings = []
        layout = layout_in
        for order in range(2, correlation_order + 1):
            order_targets = targets if order == correlation_order else intermediate
            coupling = build_coupling(layout, layout_in, order_targets, symmetric=(order == 2))
            if coupling.num_paths == 0:
                break
            couplings.append(coupling)
            layout = coupling.layout
        for index, coupling in enumerate(couplings):
            self.register_buffer(f"coupling_{index}", coupling.tensor)
        self.num_products = len(couplings)
        self.dims = [layout_in.dim] + [coupling.layout.dim for coupling in couplings]
        pieces = [(ir, order) for order, lay in enumerate([layout_in] + [c.layout for c in couplings]) for ir in lay.irreps]
        # Group blocks by irrep so that the following linear layer reads each irrep as one slice.
        order_of_irreps = []
        for ir, _ in pieces:
            if ir not in order_of_irreps:
                order_of_irreps.append(ir)
        block_dims = [ir.dim for ir, _ in pieces]
        block_starts = [sum(block_dims[:index]) for index in range(len(pieces))]
        permutation = []
        grouped = []
        for ir in order_of_irreps:
            for index, (block_ir, _) in enumerate(pieces):
                if block_ir == ir:
                    permutation.extend(range(block_starts[index], block_starts[index] + ir.dim))
                    grouped.append(ir)
        self.layout_out = IrrepLayout(tuple(grouped))
        self.register_buffer("permutation", torch.tensor(permutation, dtype=torch.int64), persistent=False)
        block_of_component = [number for number, ir in enumerate(grouped) for _ in range(ir.dim)]
        self.register_buffer("block_of_component", torch.tensor(block_of_component), persistent=False)
        self.element_weights = nn.Parameter(torch.ones(num_elements, channels, len(grouped)))

    def forward(self, atomic_basis: torch.Tensor, element: torch.Tensor) -> torch.Tensor:
        """Return the weighted product basis [N, C, D_out] for element indices [N]."""
        num_nodes, channels, dim = atomic_basis.shape
        parts = [atomic_basis]
        current = atomic_basis
        for index in range(self.num_products):
            coupling = getattr(self, f"coupling_{index}")
            outer = current.unsqueeze(-1) * atomic_basis.unsqueeze(-2)
            current = outer.reshape(num_nodes, channels, -1) @ coupling
            parts.append(current)
        basis = torch.cat(parts, dim=-1)[:, :, self.permutation] if len(parts) > 1 else atomic_basis
        weights = self.element_weights[:, :, self.block_of_component][element]
        return basis * weights
