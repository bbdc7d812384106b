"""One interaction layer: convolution, symmetric product, gated nonlinearity and residual update."""

from __future__ import annotations

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3
from torch import nn


class InteractionLayer(nn.Module):
    """Update node features ``h -> gate(P(conv(h))) + residual(h)``.

    * ``conv``: :class:`~molmtl.nn.convolution.Convolution` of the linearly mixed input.
    * ``P``: :class:`~molmtl.nn.symmetric_product.SymmetricProduct` up to the correlation order,
      with element-dependent weights; its output feeds the gate directly.
    * ``gate``: SiLU on scalars; every ``l > 0`` channel is multiplied by the sigmoid of its own
      gate scalar (Weiler et al., 3D steerable CNNs, 2018).
    * ``residual``: a linear self-interaction of the input, used from the second layer on. The
      first layer's input is the element embedding, which has no residual path, so an atom
      without neighbours gets exactly zero features from every layer.
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_out: o3.Irreps,
        convolution: nn.Module,
        product_factory,
        residual: bool,
    ) -> None:
        super().__init__()
        irreps_in = o3.Irreps(irreps_in)
        irreps_out = o3.Irreps(irreps_out)
        scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l == 0])
        gated = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l > 0])
        gates = o3.Irreps([(mul, "0e") for mul, _ in gated])
        self.gate = e3nn_nn.Gate(
            scalars,
            [torch.nn.functional.silu] * len(scalars),
            gates,
            [torch.sigmoid] * len(gates),
            gated,
        )
        self.linear_up = o3.Linear(irreps_in, irreps_in)
        self.convolution = convolution
        self.product = product_factory(convolution.irreps_out, self.gate.irreps_in)
        self.residual = o3.Linear(irreps_in, self.gate.irreps_out) if residual else None
        self.irreps_in = irreps_in
        self.irreps_out = self.gate.irreps_out

    def forward(
        self,
        features: torch.Tensor,
        element: torch.Tensor,
        spherical_harmonics: torch.Tensor,
        radial_basis: torch.Tensor,
        envelope: torch.Tensor,
        edge_index: torch.Tensor,
    ) -> torch.Tensor:
        """Return the new node features [N, irreps_out.dim]."""
        mixed = self.linear_up(features)
        atomic_basis = self.convolution(mixed, spherical_harmonics, radial_basis, envelope, edge_index)
        updated = self.gate(self.product(atomic_basis, element))
        if self.residual is not None:
            updated = updated + self.residual(features)
        return updated
