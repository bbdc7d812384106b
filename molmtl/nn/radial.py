"""Radial basis of the edge lengths and the smooth cutoff envelope."""

from __future__ import annotations

import math

import torch
from torch import nn


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
        self.p = float(exponent)

    def forward(self, lengths: torch.Tensor) -> torch.Tensor:
        """Map edge lengths (Å) to envelope values in [0, 1], same shape."""
        p = self.p
        x = lengths / self.cutoff
        x_p = x.pow(p)
        value = 1.0 - 0.5 * (p + 1.0) * (p + 2.0) * x_p + p * (p + 2.0) * x_p * x - 0.5 * p * (p + 1.0) * x_p * x * x
        return torch.where(x < 1.0, value, torch.zeros_like(value))
