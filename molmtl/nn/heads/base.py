"""Base class of the output heads: per-atom values, a sum per structure, and a final step."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class NodeFeatures:
    """Encoder output that the heads read.

    ``scalars`` [N, C * num_layers] are the invariant (``0e``) channels of every layer,
    concatenated. ``equivariant`` [N, D, C] are the last layer's features
    (``0e``, then the ``1o`` components that the dipole head reads, when it is enabled).
    """

    scalars: torch.Tensor
    equivariant: torch.Tensor


@dataclass
class HeadContext:
    """Per-batch inputs that heads need besides the features.

    ``positions`` [N, 3] (Å, model dtype) are the autograd leaves of the forward pass.
    ``element`` [N] indexes the model's element list, ``batch`` [N] the structure of each
    atom. ``total_charge`` [B] (e), ``num_atoms`` [B] and ``coordination`` [N] (the sum of
    the cutoff envelope over each atom's edges, 0 for an atom without neighbours) are float64.
    """

    positions: torch.Tensor
    element: torch.Tensor
    batch: torch.Tensor
    num_graphs: int
    total_charge: torch.Tensor
    num_atoms: torch.Tensor
    coordination: torch.Tensor

    def sum_per_structure(self, node_values: torch.Tensor) -> torch.Tensor:
        """Return the sums per structure [B, ...] of per-atom values [N, ...]."""
        if self.num_graphs == 1:
            # A plain sum for one structure (the calculator and the compiled path):
            # AOTInductor's multi-threaded C++ code generation failed on scatters into one row.
            return node_values.sum(dim=0, keepdim=True)
        totals = node_values.new_zeros((self.num_graphs, *node_values.shape[1:]))
        return totals.index_add(0, self.batch, node_values)

    def to_atoms(self, graph_values: torch.Tensor) -> torch.Tensor:
        """Return per-structure values [B, ...] repeated for every atom [N, ...]."""
        if self.num_graphs == 1:
            # Broadcasting, whose gradient is a sum; the gradient of a gather is a scatter (see above).
            return graph_values.expand(self.batch.shape[0], *graph_values.shape[1:])
        return graph_values.index_select(0, self.batch)


class Head(nn.Module):
    """A head maps features to per-atom values, sums them per structure, and finishes the result.

    Subclasses implement :meth:`pre_reduce` and :meth:`post_reduce`; :meth:`reduce` sums in
    float64 by default, so totals do not lose precision in a float32 model. Heads run in the
    order of the model's config and read earlier heads' results from ``outputs``.
    """

    name: str = ""

    def pre_reduce(
        self, features: NodeFeatures, context: HeadContext, outputs: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Return per-atom values [N, ...]."""
        raise NotImplementedError

    def reduce(self, node_values: torch.Tensor, context: HeadContext) -> torch.Tensor:
        """Return the float64 sum per structure [B, ...] of per-atom values [N, ...]."""
        return context.sum_per_structure(node_values.to(torch.float64))

    def post_reduce(
        self,
        node_values: torch.Tensor,
        graph_values: torch.Tensor,
        context: HeadContext,
        outputs: dict[str, torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """Return the output entries of this head from its per-atom and per-structure values."""
        raise NotImplementedError

    def forward(
        self, features: NodeFeatures, context: HeadContext, outputs: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Run the three steps and return the new output entries."""
        node_values = self.pre_reduce(features, context, outputs)
        graph_values = self.reduce(node_values, context)
        return self.post_reduce(node_values, graph_values, context, outputs)
