"""Equivariant point convolution: neighbour features times spherical harmonics, weighted by a radial MLP."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from molmtl.nn.irreps import IrrepLayout, build_coupling


class Convolution(nn.Module):
    """Messages ``m_ij = sum_paths w_p(|r_ij|) [h_j (x) Y(r_ij)]_p`` summed over the neighbours ``j`` of ``i``.

    The tensor product runs channel by channel (e3nn's ``uvu`` mode). Channel ``c`` of ``h_j``
    couples with the spherical harmonics ``Y`` into every irrep of ``targets``. Each coupling
    path keeps its own output block and its own weight per channel and edge. Paths
    into irreps that no later layer reads are not built. All paths are one dense
    Clebsch-Gordan tensor: contracting it with ``Y`` gives one [D_out, D_in] matrix per edge,
    and one batched matrix product applies it to all channels.

    The path weights [E, num_paths * C] come from an MLP of the radial basis
    (:class:`~molmtl.nn.radial.RadialMLP`) and are multiplied by the cutoff envelope, so every
    message of every ``l`` goes smoothly to zero at the cutoff. The sum over neighbours is
    divided by ``avg_num_neighbors``.
    """

    def __init__(
        self,
        layout_in: IrrepLayout,
        layout_sh: IrrepLayout,
        targets: list[o3.Irrep],
        channels: int,
        avg_num_neighbors: float,
    ) -> None:
        super().__init__()
        coupling = build_coupling(layout_in, layout_sh, targets)
        self.layout_out = coupling.layout
        # Stored as [D_sh, D_out * D_in], so that Y @ coupling gives each edge's [D_out, D_in] matrix.
        tensor = coupling.tensor.permute(1, 2, 0).reshape(layout_sh.dim, -1)
        self.register_buffer("coupling", tensor)
        self.register_buffer("path_index", coupling.path_index, persistent=False)
        self.num_paths = coupling.num_paths
        self.channels = channels
        self.dim_in = layout_in.dim
        self.dim_sh = layout_sh.dim
        self.dim_out = coupling.layout.dim
        self.num_weights = channels * self.num_paths
        self.avg_num_neighbors = float(avg_num_neighbors)
        # Non-zero Clebsch-Gordan entries (sh, in, value) of every output component, for
        # the elementwise form of the product (see ``elementwise``).
        dense = tensor.reshape(layout_sh.dim, self.dim_out, self.dim_in)
        self.terms = [
            [(int(s), int(a), float(dense[s, o, a])) for s, a in torch.nonzero(dense[:, o, :]).tolist()]
            for o in range(self.dim_out)
        ]
        #: Compute the product as a sum of elementwise terms instead of one batched matrix
        #: product. Slower in eager mode (many small operators), but a compiler fuses the
        #: terms with the gather, the radial weights and the sum over neighbours into one loop.
        self.elementwise = False

    def forward(
        self,
        features: torch.Tensor,
        spherical_harmonics: torch.Tensor,
        edge_weights: torch.Tensor,
        edge_index: torch.Tensor,
        edge_groups: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return the aggregated messages [N, D_out, C] for node features [N, D_in, C].

        ``edge_weights`` has one row per edge, or with ``edge_groups`` [E] one row per group
        of edges that share their weights (see :class:`~molmtl.nn.geometry.EdgePairs`).
        """
        num_edges = edge_index.shape[1]
        # index_select rather than [] indexing: its backward is a plain index_add.
        if edge_groups is None:
            weights = edge_weights.reshape(num_edges, self.num_paths, self.channels).index_select(1, self.path_index)
        else:
            # One gather for both the group and the path of every output component.
            rows = (edge_groups.unsqueeze(1) * self.num_paths + self.path_index).reshape(-1)
            weights = edge_weights.reshape(-1, self.channels).index_select(0, rows)
            weights = weights.reshape(num_edges, self.dim_out, self.channels)
        neighbours = features.index_select(0, edge_index[1])
        if self.elementwise:
            messages = self._elementwise_product(spherical_harmonics, neighbours) * weights
        else:
            edge_matrices = (spherical_harmonics @ self.coupling).reshape(num_edges, self.dim_out, self.dim_in)
            messages = torch.bmm(edge_matrices, neighbours) * weights
        aggregated = messages.new_zeros((features.shape[0], *messages.shape[1:]))
        aggregated.index_add_(0, edge_index[0], messages)
        return aggregated / self.avg_num_neighbors

    def _elementwise_product(self, spherical_harmonics: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
        """Return the coupled products [E, D_out, C] as sums of ``value * Y[:, s] * h[:, a, :]``."""
        components = []
        for terms in self.terms:
            total = None
            for s, a, value in terms:
                term = (spherical_harmonics[:, s : s + 1] * value) * neighbours[:, a, :]
                total = term if total is None else total + term
            components.append(total if total is not None else neighbours.new_zeros(neighbours.shape[0], neighbours.shape[2]))
        return torch.stack(components, dim=1)
