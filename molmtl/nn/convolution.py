"""Equivariant point convolution: neighbour features times spherical harmonics, weighted by a radial MLP."""

from __future__ import annotations

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3
from torch import nn


class Convolution(nn.Module):
    """Messages ``m_ij = TP(h_j, Y(r_ij); w(|r_ij|))`` summed over neighbours ``j`` of ``i``.

    The tensor product runs channel by channel (``uvu``): channel ``c`` of ``h_j`` couples
    with the spherical harmonics ``Y`` into every output irrep in ``target_irreps``; outputs
    that no later layer reads are not built. The per-edge path weights ``w`` come from an
    MLP of the radial basis and are multiplied by the cutoff envelope, so every message of
    every ``l`` goes smoothly to zero at the cutoff. The sum over neighbours is divided by
    ``avg_num_neighbors``.
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_sh: o3.Irreps,
        target_irreps: o3.Irreps,
        num_radial_basis: int,
        radial_mlp: list[int],
        avg_num_neighbors: float,
    ) -> None:
        super().__init__()
        targets = {ir for _, ir in target_irreps}
        irreps_mid = []
        instructions = []
        for i_in, (mul, ir_in) in enumerate(irreps_in):
            for i_sh, (_, ir_sh) in enumerate(irreps_sh):
                for ir_out in ir_in * ir_sh:
                    if ir_out in targets:
                        instructions.append((i_in, i_sh, len(irreps_mid), "uvu", True))
                        irreps_mid.append((mul, ir_out))
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_out = o3.Irreps(irreps_mid)
        self.tensor_product = o3.TensorProduct(
            self.irreps_in,
            irreps_sh,
            self.irreps_out,
            instructions,
            shared_weights=False,
            internal_weights=False,
        )
        self.radial = e3nn_nn.FullyConnectedNet(
            [num_radial_basis, *radial_mlp, self.tensor_product.weight_numel], torch.nn.functional.silu
        )
        self.avg_num_neighbors = float(avg_num_neighbors)

    def forward(
        self,
        features: torch.Tensor,
        spherical_harmonics: torch.Tensor,
        radial_basis: torch.Tensor,
        envelope: torch.Tensor,
        edge_index: torch.Tensor,
    ) -> torch.Tensor:
        """Return the aggregated messages [N, irreps_out.dim] for node features [N, irreps_in.dim]."""
        weights = self.radial(radial_basis) * envelope
        messages = self.tensor_product(features[edge_index[1]], spherical_harmonics, weights)
        aggregated = torch.zeros(features.shape[0], messages.shape[1], dtype=messages.dtype, device=messages.device)
        aggregated.index_add_(0, edge_index[0], messages)
        return aggregated / self.avg_num_neighbors
