"""The shared E(3)-equivariant message-passing encoder."""

from __future__ import annotations

import functools

import torch
from e3nn import o3
from torch import nn

from molmtl.nn.config import ModelConfig
from molmtl.nn.convolution import Convolution
from molmtl.nn.heads.base import NodeFeatures
from molmtl.nn.interaction import InteractionLayer
from molmtl.nn.irreps import natural_irreps, spherical_harmonics_irreps
from molmtl.nn.radial import BesselBasis, PolynomialEnvelope
from molmtl.nn.symmetric_product import SymmetricProduct


class Encoder(nn.Module):
    """Element embedding followed by ``num_layers`` interaction layers.

    Node features start as a learned embedding of the element (``C x 0e``). Each layer
    returns ``C x (0e + 1o + 2e + ...)`` up to ``l_max``; the last layer keeps only what the
    heads read (``0e``, plus ``1o`` when ``vector_output`` is set for the dipole head).
    """

    def __init__(self, config: ModelConfig, vector_output: bool) -> None:
        super().__init__()
        channels = config.num_channels
        num_elements = len(config.atomic_numbers)
        self.embedding = nn.Embedding(num_elements, channels)
        self.irreps_sh = spherical_harmonics_irreps(config.l_max)
        self.spherical_harmonics = o3.SphericalHarmonics(self.irreps_sh, normalize=True, normalization="component")
        self.radial_basis = BesselBasis(config.cutoff, config.num_radial_basis)
        self.envelope = PolynomialEnvelope(config.cutoff, config.envelope_exponent)
        hidden = natural_irreps(channels, config.l_max)
        last = natural_irreps(channels, 1 if vector_output else 0)
        product_factory = functools.partial(
            self._make_product,
            correlation_order=config.correlation_order,
            num_elements=num_elements,
            l_max=config.l_max,
        )
        layers = []
        irreps_in = o3.Irreps(f"{channels}x0e")
        for index in range(config.num_layers):
            irreps_out = last if index == config.num_layers - 1 else hidden
            convolution = Convolution(
                irreps_in,
                self.irreps_sh,
                irreps_out,
                config.num_radial_basis,
                config.radial_mlp,
                config.avg_num_neighbors,
            )
            layer = InteractionLayer(irreps_in, irreps_out, convolution, product_factory, residual=index > 0)
            layers.append(layer)
            irreps_in = layer.irreps_out
        self.layers = nn.ModuleList(layers)
        self.num_channels = channels
        self.irreps_out = irreps_in

    @staticmethod
    def _make_product(
        irreps_in: o3.Irreps, irreps_out: o3.Irreps, correlation_order: int, num_elements: int, l_max: int
    ) -> SymmetricProduct:
        return SymmetricProduct(irreps_in, irreps_out, correlation_order, num_elements, l_max)

    def forward(
        self, element: torch.Tensor, vectors: torch.Tensor, lengths: torch.Tensor, edge_index: torch.Tensor
    ) -> tuple[NodeFeatures, torch.Tensor]:
        """Return the node features and the envelope values [E, 1] of the edges."""
        spherical_harmonics = self.spherical_harmonics(vectors)
        radial_basis = self.radial_basis(lengths)
        envelope = self.envelope(lengths)
        features = self.embedding(element)
        scalars = []
        for layer in self.layers:
            features = layer(features, element, spherical_harmonics, radial_basis, envelope, edge_index)
            scalars.append(features[:, : self.num_channels])
        return NodeFeatures(scalars=torch.cat(scalars, dim=-1), equivariant=features), envelope
