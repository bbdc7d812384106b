"""One interaction layer: convolution, symmetric product, gated nonlinearity and residual update."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from molmtl.nn.convolution import Convolution
from molmtl.nn.irreps import IrrepLayout, natural_irreps, natural_layout
from molmtl.nn.linear import Gate, IrrepLinear
from molmtl.nn.symmetric_product import SymmetricProduct


class InteractionLayer(nn.Module):
    """Update node features ``h -> gate(W P(A)) + R h`` with ``A = W_A conv(W_up h)``.

    * ``conv``: :class:`~molmtl.nn.convolution.Convolution` of the linearly mixed input; ``W_A``
      maps its paths onto the irreps ``0e + 1o + ...`` up to ``l_max`` (the atomic basis ``A``).
    * ``P``: :class:`~molmtl.nn.symmetric_product.SymmetricProduct` up to the correlation order,
      with element-dependent weights.
    * ``gate``: SiLU on scalars; every ``l > 0`` channel is multiplied by the sigmoid of its own
      gate scalar (:class:`~molmtl.nn.linear.Gate`).
    * ``R``: a linear self-interaction (residual), used from the second layer on. The first
      layer's input is the element embedding, which has no residual path, so an atom
      without neighbours gets exactly zero features from every layer.

    ``layout_out`` lists the output irreps (one block each per channel).
    """

    def __init__(
        self,
        layout_in: IrrepLayout,
        output_irreps: list[o3.Irrep],
        channels: int,
        l_max: int,
        correlation_order: int,
        num_elements: int,
        avg_num_neighbors: float,
        first: bool,
    ) -> None:
        super().__init__()
        hidden = natural_irreps(l_max)
        self.channels = channels
        self.linear_up = None if first else _ConcatLinear(layout_in, channels, [(ir, channels) for ir in layout_in.irreps])
        self.convolution = Convolution(
            layout_in,
            natural_layout(l_max),
            hidden,
            channels,
            avg_num_neighbors,
        )
        self.linear_basis = _ConcatLinear(self.convolution.layout_out, channels, [(ir, channels) for ir in hidden])
        self.product = SymmetricProduct(
            natural_layout(l_max), output_irreps, correlation_order, channels, num_elements, l_max
        )
        num_gated = len(output_irreps) - 1
        gate_inputs = [(output_irreps[0], channels * (1 + num_gated))] + [(ir, channels) for ir in output_irreps[1:]]
        self.linear_gate = IrrepLinear(self.product.layout_out, channels, gate_inputs)
        self.gate = Gate(channels)
        self.residual = None if first else _ConcatLinear(layout_in, channels, [(ir, channels) for ir in output_irreps])
        self.layout_out = IrrepLayout(tuple(output_irreps))

    def forward(
        self,
        features: torch.Tensor,
        element: torch.Tensor,
        spherical_harmonics: torch.Tensor,
        edge_weights: torch.Tensor,
        edge_index: torch.Tensor,
        edge_groups: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return the new node features [N, D_out, C] from features [N, D_in, C].

        ``edge_weights`` and ``edge_groups`` are as in :class:`~molmtl.nn.convolution.Convolution`.
        """
        mixed = features if self.linear_up is None else self.linear_up(features)
        messages = self.convolution(mixed, spherical_harmonics, edge_weights, edge_index, edge_groups)
        atomic_basis = self.linear_basis(messages)
        updated = self.gate(self.linear_gate(self.product(atomic_basis, element)))
        if self.residual is not None:
            updated = updated + self.residual(features)
        return updated


class _ConcatLinear(IrrepLinear):
    """:class:`IrrepLinear` whose outputs are concatenated into one [N, D, C] tensor."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        outputs = super().forward(features)
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1)
