"""Dipole head: point charges about the centre of mass plus atomic dipoles."""

from __future__ import annotations

import math

import torch
from torch import nn

from molmtl.nn.heads.base import Head, HeadContext, NodeFeatures


class DipoleHead(Head):
    """``mu = sum_i q_i (r_i - r_com) + sum_i p_i`` (e·Å, float64).

    ``q_i`` are the charges head's output, ``p_i`` a linear map of the last layer's ``1o``
    (odd-parity vector) channels, and ``r_com`` the centre of mass with the atomic masses of
    ``ase.data.atomic_masses``. For a neutral structure the result is the same for every
    reference point. For a charged one it depends on the reference point. With ``r_com``
    it is invariant under translation, and a label given about another origin ``o``
    converts with ``mu_com = mu_o - Q (r_com - o)``.
    """

    name = "dipole"

    def __init__(self, channels: int, masses: torch.Tensor) -> None:
        super().__init__()
        # Weights of the C vector channels, scaled by 1/sqrt(C) in the forward pass.
        self.weight = nn.Parameter(torch.randn(channels))
        self.norm = 1.0 / math.sqrt(channels)
        # A plain float64 attribute, not a buffer, so that casting the model keeps its dtype.
        self.masses = masses.to(torch.float64).clone()

    def pre_reduce(
        self, features: NodeFeatures, context: HeadContext, outputs: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        positions = context.positions.to(torch.float64)
        if self.masses.device != context.element.device:
            self.masses = self.masses.to(context.element.device)
        masses = self.masses[context.element]
        total_mass = context.sum_per_structure(masses)
        weighted = context.sum_per_structure(masses[:, None] * positions)
        centre_of_mass = weighted / total_mass[:, None]
        # Components 1:4 of the features are the 1o block (x, y, z in e3nn 0.6).
        vectors = features.equivariant[:, 1:4, :]
        atomic_dipoles = (vectors @ (self.weight * self.norm)).to(torch.float64)
        charges = outputs["charges"]
        return charges[:, None] * (positions - context.to_atoms(centre_of_mass)) + atomic_dipoles

    def post_reduce(
        self,
        node_values: torch.Tensor,
        graph_values: torch.Tensor,
        context: HeadContext,
        outputs: dict[str, torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        return {"dipole": graph_values}
