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

from molmtl.nn.irreps import block_channel_index


def _channelwise_product(
    irreps_1: o3.Irreps, irreps_2: o3.Irreps, targets: set[o3.Irrep], symmetric: bool
) -> o3.TensorProduct | None:
    """Build the unweighted channel-wise (``uuu``) product of two feature sets, or ``None`` without paths."""
    irreps_out = []
    instructions = []
    for i_1, (mul_1, ir_1) in enumerate(irreps_1):
        for i_2, (mul_2, ir_2) in enumerate(irreps_2):
            if symmetric and i_2 < i_1:
                continue
            for ir_out in ir_1 * ir_2:
                if ir_out not in targets:
                    continue
                if symmetric and i_1 == i_2 and (ir_1.l + ir_2.l + ir_out.l) % 2 == 1:
                    continue  # antisymmetric coupling of a channel with itself: identically zero
                instructions.append((i_1, i_2, len(irreps_out), "uuu", False))
                irreps_out.append((mul_1, ir_out))
    if not instructions:
        return None
    return o3.TensorProduct(irreps_1, irreps_2, o3.Irreps(irreps_out), instructions)


class SymmetricProduct(nn.Module):
    """Map ``A`` [N, irreps_in] to an element-weighted sum of its products up to ``correlation_order``.

    The products are concatenated, scaled per (element, product block, channel) and mixed by
    an equivariant linear layer into ``irreps_out``. Without neighbours ``A = 0`` and the
    output is exactly 0 (no constant term).
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_out: o3.Irreps,
        correlation_order: int,
        num_elements: int,
        intermediate_l_max: int,
    ) -> None:
        super().__init__()
        irreps_in = o3.Irreps(irreps_in)
        irreps_out = o3.Irreps(irreps_out)
        intermediate = {o3.Irrep(l, p) for l in range(intermediate_l_max + 1) for p in (1, -1)}
        final = {ir for _, ir in irreps_out}
        products = nn.ModuleList()
        current = irreps_in
        for order in range(2, correlation_order + 1):
            targets = final if order == correlation_order else intermediate
            product = _channelwise_product(current, irreps_in, targets, symmetric=(order == 2))
            if product is None:
                break
            products.append(product)
            current = product.irreps_out
        self.products = products
        irreps_cat = irreps_in + sum((product.irreps_out for product in products), o3.Irreps())
        self.irreps_cat = irreps_cat
        self.register_buffer("component_index", torch.tensor(block_channel_index(irreps_cat)), persistent=False)
        num_weights = sum(mul for mul, _ in irreps_cat)
        self.element_weights = nn.Parameter(torch.ones(num_elements, num_weights))
        self.linear = o3.Linear(irreps_cat, irreps_out)

    def forward(self, atomic_basis: torch.Tensor, element: torch.Tensor) -> torch.Tensor:
        """Return the product features [N, irreps_out.dim] for element indices [N]."""
        parts = [atomic_basis]
        current = atomic_basis
        for product in self.products:
            current = product(current, atomic_basis)
            parts.append(current)
        basis = torch.cat(parts, dim=-1) if len(parts) > 1 else atomic_basis
        weights = self.element_weights[element][:, self.component_index]
        return self.linear(basis * weights)
