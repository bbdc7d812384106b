"""Forces, virial and stress as derivatives of the energy.

Conventions (ASE's):

* forces ``F_i = -dE/dr_i`` (eV/Å);
* the strain ``eps`` is symmetric and maps positions and lattice vectors
  ``x -> x (1 + eps)`` (see :func:`molmtl.nn.geometry.build_geometry`);
* virial ``W = -dE/d(eps)`` (eV) and stress ``sigma = (1/V) dE/d(eps) = -W / V`` (eV/Å^3), so a
  compressed crystal, which pushes outwards, has a negative stress.
"""

from __future__ import annotations

import torch


def energy_gradients(
    energy: torch.Tensor,
    positions: torch.Tensor,
    displacement: torch.Tensor | None,
    cell: torch.Tensor,
    pbc: torch.Tensor,
    compute_forces: bool,
    compute_stress: bool,
    create_graph: bool,
) -> dict[str, torch.Tensor]:
    """Return ``forces`` [N, 3] and, if requested, ``virial`` and ``stress`` [B, 3, 3].

    ``create_graph`` keeps the graph of the derivatives (needed to train on forces). A
    structure without periodic directions or without a cell volume (a molecule) gets a zero
    stress, because the stress is
    undefined there; its virial is still returned. Atoms on which the energy does not depend
    (no neighbours) get zero forces.
    """
    inputs = []
    if compute_forces:
        inputs.append(positions)
    if compute_stress:
        inputs.append(displacement)
    if not inputs:
        return {}
    if energy.requires_grad:
        gradients = torch.autograd.grad(
            energy.sum(), inputs, create_graph=create_graph, retain_graph=create_graph, allow_unused=True
        )
    else:
        gradients = (None,) * len(inputs)
    gradients = [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, gradients)]
    results: dict[str, torch.Tensor] = {}
    if compute_forces:
        results["forces"] = -gradients[0]
    if compute_stress:
        virial = -gradients[-1]
        volume = torch.linalg.det(cell.detach()).abs()
        periodic = pbc.reshape(-1, 3).any(dim=-1) & (volume > 0)
        safe_volume = torch.where(periodic, volume, torch.ones_like(volume))
        stress = torch.where(periodic[:, None, None], -virial / safe_volume[:, None, None], torch.zeros_like(virial))
        results["virial"] = virial
        results["stress"] = stress
    return results
