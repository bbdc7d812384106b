"""Activation functions scaled to unit second moment, and a bias-free scalar MLP."""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

_ACTIVATIONS = {"silu": torch.nn.functional.silu, "sigmoid": torch.sigmoid}


@functools.lru_cache(maxsize=None)
def second_moment_scale(name: str) -> float:
    """Return ``c`` such that ``E[(c f(z))^2] = 1`` for ``z ~ N(0, 1)``, with ``f`` = ``"silu"`` or ``"sigmoid"``.

    The same normalisation as e3nn's ``normalize2mom``, which samples one million points
    each time it is built; this caches the value per activation.
    """
    from e3nn.math import normalize2mom

    return float(normalize2mom(_ACTIVATIONS[name]).cst)


class ScalarMLP(nn.Module):
    """MLP without biases and with scaled SiLU activations: zero input gives zero output.

    Weights are drawn from N(0, 1) and divided by ``sqrt(fan_in)`` in the forward pass, as
    in e3nn's ``FullyConnectedNet``.
    """

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(a, b)) for a, b in zip(widths[:-1], widths[1:]))
        self.norms = [1.0 / math.sqrt(a) for a in widths[:-1]]
        self.silu_scale = second_moment_scale("silu")

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Map [..., widths[0]] to [..., widths[-1]]."""
        hidden = inputs
        last = len(self.weights) - 1
        for index, (weight, norm) in enumerate(zip(self.weights, self.norms)):
            hidden = hidden @ (weight * norm)
            if index < last:
                hidden = torch.nn.functional.silu(hidden) * self.silu_scale
        return hidden
