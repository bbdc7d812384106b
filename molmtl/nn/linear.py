"""Equivariant linear layers and the gated nonlinearity on ``[N, D, C]`` features (see :mod:`molmtl.nn.irreps`)."""

from __future__ import annotations

import math

import torch
from e3nn import o3
from torch import nn

from molmtl.nn.activations import second_moment_scale

from molmtl.nn.irreps import IrrepLayout


class IrrepLinear(nn.Module):
    """Mix channels and blocks of the same irrep: ``y[n, m, o] = sum_{b, c} W[b, c, o] x[n, m, b, c]``.

    Only blocks of equal irrep mix, which keeps the map equivariant. Every output irrep needs
    at least one input block. Weights are drawn from N(0, 1) and scaled by
    ``1/sqrt(fan_in)`` in the forward pass, as in e3nn's ``o3.Linear``. Returns one tensor
    [N, 2l + 1, channels_out] per output irrep.
    """

    def __init__(self, layout_in: IrrepLayout, channels_in: int, outputs: list[tuple[o3.Irrep, int]]) -> None:
        super().__init__()
        self.plan: list[tuple[int, int, int, int, float]] = []
        self.weights = nn.ParameterList()
        for ir, channels_out in outputs:
            start, num_blocks = layout_in.slice_of(ir)
            if num_blocks == 0:
                raise ValueError(f"irrep {ir} has no input block in layout {layout_in}")
            fan_in = channels_in * num_blocks
            self.weights.append(nn.Parameter(torch.randn(num_blocks * channels_in, channels_out)))
            self.plan.append((start, num_blocks, ir.dim, channels_out, 1.0 / math.sqrt(fan_in)))

    def forward(self, features: torch.Tensor) -> list[torch.Tensor]:
        """Map features [N, D_in, C_in] to a list of [N, 2l + 1, C_out]."""
        outputs = []
        num_nodes, _, channels = features.shape
        for weight, (start, num_blocks, dim, _, norm) in zip(self.weights, self.plan):
            block = features[:, start : start + num_blocks * dim, :].reshape(num_nodes, dim, num_blocks * channels)
            outputs.append(block @ (weight * norm))
        return outputs


class Gate(nn.Module):
    """Gated nonlinearity (Weiler et al., 3D steerable CNNs, NeurIPS 2018).

    Input: a ``0e`` part [N, 1, C + (L - 1) * C] holding the scalars and one gate per channel
    of every ``l > 0`` irrep, then one [N, 2l + 1, C] part per ``l > 0`` irrep. Output
    [N, D, C]: SiLU of the scalars, and each ``l > 0`` channel times the sigmoid of its gate.
    Both activations are scaled to unit second moment on N(0, 1) input, as in e3nn.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.silu_scale = second_moment_scale("silu")
        self.sigmoid_scale = second_moment_scale("sigmoid")

    def forward(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """Apply the gate and concatenate the irreps along the component axis."""
        channels = self.channels
        scalars = parts[0]
        activated = [torch.nn.functional.silu(scalars[:, :, :channels]) * self.silu_scale]
        if len(parts) > 1:
            gates = torch.sigmoid(scalars[:, :, channels:]) * self.sigmoid_scale
            for index, gated in enumerate(parts[1:]):
                activated.append(gated * gates[:, :, index * channels : (index + 1) * channels])
        if len(activated) == 1:
            return activated[0]
        return torch.cat(activated, dim=1)
