"""Irreducible-representation layouts shared by the encoder pieces."""

from __future__ import annotations

from e3nn import o3


def natural_irreps(num_channels: int, l_max: int) -> o3.Irreps:
    """Return ``C x 0e + C x 1o + C x 2e + ...`` up to ``l_max`` (parity ``(-1)^l``, as for vectors and tensors)."""
    return o3.Irreps([(num_channels, (l, (-1) ** l)) for l in range(l_max + 1)])


def spherical_harmonics_irreps(l_max: int) -> o3.Irreps:
    """Return the irreps ``0e + 1o + 2e + ...`` of the spherical harmonics up to ``l_max``."""
    return o3.Irreps.spherical_harmonics(l_max)


def block_channel_index(irreps: o3.Irreps) -> list[int]:
    """Return, for each feature component, the index of its (irrep block, channel) pair.

    A weight vector with one value per block and channel, indexed by this list, scales every
    component of an irrep by the same number, which keeps the scaling equivariant.
    """
    index: list[int] = []
    offset = 0
    for mul, ir in irreps:
        for channel in range(mul):
            index.extend([offset + channel] * ir.dim)
        offset += mul
    return index
