"""Partial-charge head: one scalar per atom, shifted to sum to the total charge."""

from __future__ import annotations

import torch
from torch import nn

from molmtl.nn.heads.base import Head, HeadContext, NodeFeatures


class ChargesHead(Head):
    """``q_i = x_i + (Q - sum_j x_j) / n`` (e), with ``x_i`` linear in the invariant features.

    The correction spreads the difference to the total charge ``Q`` of the structure evenly
    over its ``n`` atoms, so the charges sum to ``Q`` up to float64 rounding. Charges are
    float64.
    """

    name = "charges"

    def __init__(self, num_scalars: int) -> None:
        super().__init__()
        self.linear = nn.Linear(num_scalars, 1, bias=False)

    def pre_reduce(
        self, features: NodeFeatures, context: HeadContext, outputs: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        return self.linear(features.scalars).squeeze(-1).to(torch.float64)

    def post_reduce(
        self,
        node_values: torch.Tensor,
        graph_values: torch.Tensor,
        context: HeadContext,
        outputs: dict[str, torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        correction = (context.total_charge - graph_values) / context.num_atoms
        return {"charges": node_values + context.to_atoms(correction)}
