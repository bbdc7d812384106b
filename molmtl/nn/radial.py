"""Radial basis of the edge lengths and the smooth cutoff envelope."""

from __future__ import annotations

import math

import torch
from torch import nn

from molmtl.nn.activations import second_moment_scale


class BesselBasis(nn.Module):
    """Radial Bessel functions ``sqrt(2/c) sin(n pi r / c) / r`` for ``n = 1..num_basis``.

    ``c`` is the cutoff in Å. The frequencies ``n pi / c`` are fixed (not trained), so a
    model's radial basis depends on its config alone. Every function is 0 at ``r = c``.
    """

    def __init__(self, cutoff: float, num_basis: int) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        frequencies = math.pi / self.cutoff * torch.arange(1, num_basis + 1, dtype=torch.float64)
        self.register_buffer("frequencies", frequencies)
        self.prefactor = math.sqrt(2.0 / self.cutoff)

    def forward(self, lengths: torch.Tensor) -> torch.Tensor:
        """Map edge lengths [E, 1] (Å, > 0) to the basis [E, num_basis]."""
        return self.prefactor * torch.sin(lengths * self.frequencies) / lengths


class PolynomialEnvelope(nn.Module):
    """Smooth cutoff ``u(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)``, ``x = r / c``.

    From Gasteiger, Gross and Guennemann, "Directional message passing for molecular graphs"
    (DimeNet, ICLR 2020). ``u(0) = 1``; ``u``, ``u'`` and ``u''`` are 0 at ``x = 1``, and
    ``u = 0`` for ``x >= 1``, so energies and forces go to zero smoothly at the cutoff.
    """

    def __init__(self, cutoff: float, exponent: int = 6) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        # An integer exponent keeps x^p a plain power under torch.compile.
        self.p = int(exponent)
        p = float(exponent)
        self.coefficients = (-0.5 * (p + 1.0) * (p + 2.0), p * (p + 2.0), -0.5 * p * (p + 1.0))

    def forward(self, lengths: torch.Tensor) -> torch.Tensor:
        """Map edge lengths (Å) to envelope values in [0, 1], same shape."""
        x = lengths / self.cutoff
        # Horner form of the polynomial: 1 + x^p (a + x (b + c x)).
        a, b, c = self.coefficients
        value = 1.0 + x.pow(self.p) * (a + x * (b + c * x))
        return torch.where(x < 1.0, value, 0.0)


class RadialMLP(nn.Module):
    """The radial MLPs of all interaction layers, evaluated together.

    Each layer ``k`` has its own MLP ``num_basis -> hidden... -> sizes[k]`` without biases and
    with SiLU activations, so an input of zeros gives zeros. As in e3nn's
    ``FullyConnectedNet``, weights are drawn from N(0, 1), divided by ``sqrt(fan_in)`` in the
    forward pass, and SiLU is scaled to unit second moment.

    The weights of depth ``d`` are stored stacked as one tensor [num_layers, fan_in, fan_out]
    (the last depth padded to ``max(sizes)`` with zeros). The forward pass evaluates the first
    depth of all layers as one matrix product (they share the input), the hidden depths as
    one batched product, and the last depth per layer without the padding. The activation
    scale is folded into the next depth's weights. This saves one pass over the hidden
    values and changes the result only by rounding.
    """

    def __init__(self, num_basis: int, hidden: list[int], sizes: list[int]) -> None:
        super().__init__()
        widths = [num_basis, *hidden, max(sizes)]
        self.sizes = list(sizes)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(len(sizes), fan_in, fan_out)) for fan_in, fan_out in zip(widths[:-1], widths[1:])
        )
        self.norms = [1.0 / math.sqrt(fan_in) for fan_in in widths[:-1]]
        self.silu_scale = second_moment_scale("silu")
        with torch.no_grad():
            # Outputs past a layer's own size are padding; zero them so they carry no weight.
            for index, size in enumerate(sizes):
                self.weights[-1][index, :, size:] = 0.0

    def forward(self, radial_basis: torch.Tensor) -> list[torch.Tensor]:
        """Return each layer's weights [E, sizes[k]] for the radial basis [E, num_basis]."""
        num_layers = len(self.sizes)
        num_edges = radial_basis.shape[0]
        first = self.weights[0]
        if len(self.weights) == 1:
            return [radial_basis @ (first[index, :, :size] * self.norms[0]) for index, size in enumerate(self.sizes)]
        # [num_basis, L * hidden]: every layer's first depth in one matrix product.
        stacked = (first * self.norms[0]).permute(1, 0, 2).reshape(first.shape[1], -1)
        hidden = torch.nn.functional.silu(radial_basis @ stacked)
        hidden = hidden.reshape(num_edges, num_layers, first.shape[2]).transpose(0, 1)
        for depth in range(1, len(self.weights) - 1):
            hidden = torch.nn.functional.silu(torch.bmm(hidden, self.weights[depth] * (self.norms[depth] * self.silu_scale)))
        last = self.weights[-1]
        scale = self.norms[-1] * self.silu_scale
        return [hidden[index] @ (last[index, :, :size] * scale) for index, size in enumerate(self.sizes)]
