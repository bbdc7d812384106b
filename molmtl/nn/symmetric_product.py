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
    """Map ``A`` [N, D, C] to the products of ``A`` up to ``correlation_order``, scaled per element.

    The output [N, D_out, C] concatenates ``A`` and its products (layout :attr:`layout_out`,
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
            # Stored as [D_out, D_x * D_y] for a matrix product with the flattened outer product.
            tensor = coupling.tensor.reshape(-1, coupling.layout.dim).T.contiguous()
            self.register_buffer(f"coupling_{index}", tensor)
        self.num_products = len(couplings)
        layouts = [layout_in] + [coupling.layout for coupling in couplings]
        # Concatenating A and its products orders the blocks by correlation order. Regroup them
        # by irrep, interleaved component by component, so that the next linear layer reads slices.
        pieces = [(ir, order, block) for order, layout in enumerate(layouts) for block, ir in enumerate(layout.irreps)]
        distinct = []
        for ir, _, _ in pieces:
            if ir not in distinct:
                distinct.append(ir)
        grouped = [piece for ir in distinct for piece in pieces if piece[0] == ir]
        self.layout_out = IrrepLayout(tuple(piece[0] for piece in grouped))
        order_offsets = [sum(layout.dim for layout in layouts[:order]) for order in range(len(layouts))]
        permutation = [0] * self.layout_out.dim
        for new_block, (ir, order, block) in enumerate(grouped):
            for m in range(ir.dim):
                source = order_offsets[order] + layouts[order].component(block, m)
                permutation[self.layout_out.component(new_block, m)] = source
        self.register_buffer("permutation", torch.tensor(permutation, dtype=torch.int64), persistent=False)
        block_of_component = [0] * self.layout_out.dim
        for new_block, (ir, _, _) in enumerate(grouped):
            for m in range(ir.dim):
                block_of_component[self.layout_out.component(new_block, m)] = new_block
        self.register_buffer("block_of_component", torch.tensor(block_of_component), persistent=False)
        self.element_weights = nn.Parameter(torch.ones(num_elements, len(grouped), channels))

    def forward(self, atomic_basis: torch.Tensor, element: torch.Tensor) -> torch.Tensor:
        """Return the weighted product basis [N, D_out, C] for ``A`` [N, D, C] and element indices [N]."""
        parts = [atomic_basis]
        current = atomic_basis
        for index in range(self.num_products):
            coupling = getattr(self, f"coupling_{index}")
            outer = current.unsqueeze(2) * atomic_basis.unsqueeze(1)
            current = torch.matmul(coupling, outer.flatten(1, 2))
            parts.append(current)
        basis = torch.cat(parts, dim=1)[:, self.permutation, :] if len(parts) > 1 else atomic_basis
        weights = self.element_weights[element][:, self.block_of_component, :]
        return basis * weights
