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
        # One matrix maps [A, A (x) A, P_1 (x) A, ...] straight to the regrouped basis: the
        # identity for A, each coupling for its outer product, columns in the order of
        # ``permutation``. Products of order 2 .. K-1 are still needed as inputs of the
        # next outer product; the final one, the regrouping and the concatenation are this
        # single matrix product.
        rows = [layout_in.dim] + [coupling.tensor.shape[0] * coupling.tensor.shape[1] for coupling in couplings]
        row_offsets = [sum(rows[:order]) for order in range(len(rows))]
        fused = torch.zeros(sum(rows), self.layout_out.dim, dtype=torch.float64)
        for column, source in enumerate(permutation):
            order = max(index for index, offset in enumerate(order_offsets) if offset <= source)
            local = source - order_offsets[order]
            if order == 0:
                fused[local, column] = 1.0
            else:
                block = couplings[order - 1].tensor.reshape(-1, layouts[order].dim)[:, local]
                fused[row_offsets[order] : row_offsets[order] + rows[order], column] = block
        self.register_buffer("fused", fused, persistent=False)

    def forward(self, atomic_basis: torch.Tensor, element: torch.Tensor) -> torch.Tensor:
        """Return the weighted product basis [N, D_out, C] for ``A`` [N, D, C] and element indices [N]."""
        weights = self.element_weights[:, self.block_of_component, :][element]
        if self.num_products == 0:
            return atomic_basis * weights
        num_nodes, dim, channels = atomic_basis.shape
        # Work on [N, C, D] so that every product is one matrix product over N * C rows.
        basis_t = atomic_basis.transpose(1, 2)
        inputs = [basis_t.reshape(num_nodes * channels, dim)]
        current = basis_t
        for index in range(self.num_products):
            outer = (current.unsqueeze(-1) * basis_t.unsqueeze(-2)).reshape(num_nodes * channels, -1)
            inputs.append(outer)
            if index + 1 < self.num_products:
                coupling = getattr(self, f"coupling_{index}")
                current = (outer @ coupling.T).reshape(num_nodes, channels, -1)
        basis = (torch.cat(inputs, dim=1) @ self.fused).reshape(num_nodes, channels, -1)
        return basis.transpose(1, 2) * weights
