"""The shared E(3)-equivariant message-passing encoder."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from molmtl.nn.config import ModelConfig
from molmtl.nn.geometry import EdgePairs
from molmtl.nn.heads.base import NodeFeatures
from molmtl.nn.interaction import InteractionLayer
from molmtl.nn.irreps import IrrepLayout, natural_irreps
from molmtl.nn.radial import BesselBasis, PolynomialEnvelope, RadialMLP


class Encoder(nn.Module):
    """Element embedding followed by ``num_layers`` interaction layers.

    Node features are ``[N, D, C]`` (see :mod:`molmtl.nn.irreps`). They start as a learned
    embedding of the element (``0e``). Each layer returns ``0e + 1o + 2e + ...`` up to
    ``l_max``. The last layer keeps only what the heads read: ``0e``, plus ``1o`` when
    ``vector_output`` is set for the dipole head.
    """

    def __init__(self, config: ModelConfig, vector_output: bool) -> None:
        super().__init__()
        channels = config.num_channels
        num_elements = len(config.atomic_numbers)
        self.embedding = nn.Embedding(num_elements, channels)
        self.spherical_harmonics = o3.SphericalHarmonics(
            o3.Irreps.spherical_harmonics(config.l_max), normalize=True, normalization="component"
        )
        self.radial_basis = BesselBasis(config.cutoff, config.num_radial_basis)
        self.envelope = PolynomialEnvelope(config.cutoff, config.envelope_exponent)
        layers = []
        layout = IrrepLayout((o3.Irrep("0e"),))
        for index in range(config.num_layers):
            output_irreps = natural_irreps(config.l_max)
            if index == config.num_layers - 1:
                output_irreps = natural_irreps(1 if vector_output else 0)
            layer = InteractionLayer(
                layout,
                output_irreps,
                channels,
                config.l_max,
                config.correlation_order,
                num_elements,
                config.avg_num_neighbors,
                first=index == 0,
            )
            layers.append(layer)
            layout = layer.layout_out
        self.layers = nn.ModuleList(layers)
        self.radial_mlp = RadialMLP(
            config.num_radial_basis, config.radial_mlp, [layer.convolution.num_weights for layer in layers]
        )
        self.num_channels = channels
        self.layout_out = layout

    def forward(
        self,
        element: torch.Tensor,
        vectors: torch.Tensor,
        lengths: torch.Tensor,
        edge_index: torch.Tensor,
        pairs: EdgePairs | None = None,
    ) -> tuple[NodeFeatures, torch.Tensor]:
        """Return the node features and the envelope values [E, 1] of the edges.

        With ``pairs`` (see :func:`~molmtl.nn.geometry.pair_edges`), the radial MLP runs once
        per pair of reverse edges, which have the same length, and the convolutions read the
        result of each pair for both of its edges.
        """
        envelope = self.envelope(lengths)
        # Messages are linear in the harmonics, so the envelope scales them here, once per
        # edge, rather than every radial weight.
        spherical_harmonics = self.spherical_harmonics(vectors) * envelope
        if pairs is None:
            edge_weights = self.radial_mlp(self.radial_basis(lengths))
        else:
            edge_weights = self.radial_mlp(self.radial_basis(lengths.index_select(0, pairs.representative)))
        edge_groups = None if pairs is None else pairs.inverse
        features = self.embedding(element).unsqueeze(1)
        scalars = []
        for layer, weights in zip(self.layers, edge_weights):
            features = layer(features, element, spherical_harmonics, weights, edge_index, edge_groups)
            scalars.append(features[:, 0, :])
        return NodeFeatures(scalars=torch.cat(scalars, dim=-1), equivariant=features), envelope
