"""Energy head: a sum of per-atom energies with per-element reference energies."""

from __future__ import annotations

import torch

from molmtl.nn.activations import ScalarMLP
from molmtl.nn.heads.base import Head, HeadContext, NodeFeatures


class EnergyHead(Head):
    """``E = sum_i E_i`` with ``E_i = E0[Z_i] + scale * f(s_i) + shift * g_i`` (eV).

    ``f`` is an MLP without biases over the invariant features ``s_i`` of all layers, so
    ``f = 0`` for an atom without neighbours. The shift is gated by ``g_i = 1 - exp(-n_i)``,
    where ``n_i`` is the sum of the cutoff envelope over the atom's edges. The gate is smooth,
    0 for an isolated atom (which therefore has exactly ``E0``) and close to 1 for an atom
    with a few neighbours well inside the cutoff. ``E0`` and the sums are float64.

    NOTE: the gate depends on the geometry, so a large shift (for example when E0 is not
    fitted and the shift is the whole mean energy per atom) adds forces of order
    ``shift * exp(-n_i) * dn_i/dr`` that the network must learn to cancel. Fit E0 so that the
    shift stays small.
    """

    name = "energy"

    def __init__(self, num_scalars: int, hidden: int, e0s: list[float], scale: float, shift: float) -> None:
        super().__init__()
        self.mlp = ScalarMLP([num_scalars, hidden, 1])
        # A plain attribute, not a buffer, so that casting the model to float32 keeps E0 in
        # float64. The config stores the values.
        self.e0 = torch.tensor(e0s, dtype=torch.float64)
        self.scale = float(scale)
        self.shift = float(shift)

    def pre_reduce(
        self, features: NodeFeatures, context: HeadContext, outputs: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        interaction = self.scale * self.mlp(features.scalars).squeeze(-1).to(torch.float64)
        if self.shift != 0.0:
            interaction = interaction + self.shift * (1.0 - torch.exp(-context.coordination))
        if self.e0.device != context.element.device:
            self.e0 = self.e0.to(context.element.device)
        return self.e0[context.element] + interaction

    def post_reduce(
        self,
        node_values: torch.Tensor,
        graph_values: torch.Tensor,
        context: HeadContext,
        outputs: dict[str, torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        return {"energy": graph_values, "node_energy": node_values}
