"""MolMTLModel: the shared encoder plus energy, charge and dipole heads, with forces and stress."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from molmtl.data import keys
from molmtl.nn.config import ModelConfig
from molmtl.nn.elements import ElementTable
from molmtl.nn.encoder import Encoder
from molmtl.nn.geometry import EdgePairs, build_geometry, check_finite_positions, check_min_distance, pair_edges, MIN_EDGES_TO_PAIR
from molmtl.nn.gradients import energy_gradients
from molmtl.nn.heads.base import HeadContext
from molmtl.nn.heads.charges import ChargesHead
from molmtl.nn.heads.dipole import DipoleHead
from molmtl.nn.heads.energy import EnergyHead


class MolMTLModel(nn.Module):
    """E(3)-equivariant multi-task potential.

    ``model(batch, compute_forces=True, compute_stress=False)`` takes a torch-geometric
    ``Data`` or ``Batch`` with the input keys of :mod:`molmtl.data.keys` and returns a dict:

    * ``energy`` [B] (eV, float64) and ``node_energy`` [N] (eV, float64, E0 included);
    * ``forces`` [N, 3] (eV/Å, model dtype) if ``compute_forces``;
    * ``stress`` [B, 3, 3] (eV/Å^3) and ``virial`` [B, 3, 3] (eV) if ``compute_stress``, with the
      conventions of :mod:`molmtl.nn.gradients` (zero stress for non-periodic structures);
    * ``charges`` [N] (e, float64) and ``dipole`` [B, 3] (e·Å about the centre of mass,
      float64) when those heads are enabled.

    Positions and cell are cast to the model's dtype. Derivatives keep their graph only in
    training mode (``model.train()``), which training on forces needs.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.elements = ElementTable(config.atomic_numbers)
        self.encoder = Encoder(config, vector_output="dipole" in config.heads)
        num_scalars = config.num_channels * config.num_layers
        heads: dict[str, nn.Module] = {}
        for name in config.heads:
            if name == "energy":
                e0s = [config.e0s.get(z, 0.0) for z in config.atomic_numbers]
                heads[name] = EnergyHead(
                    num_scalars, config.readout_hidden, e0s, config.energy_scale, config.energy_shift
                )
            elif name == "charges":
                heads[name] = ChargesHead(num_scalars)
            elif name == "dipole":
                heads[name] = DipoleHead(config.num_channels, self.elements.masses)
        # Charges must run before the dipole, whatever order the config lists them in.
        order = [name for name in ("energy", "charges", "dipole") if name in heads]
        self.heads = nn.ModuleDict({name: heads[name] for name in order})
        self.to(config.torch_dtype)
        #: Edge lists with at least this many edges run the radial MLP once per pair of
        #: reverse edges (see :func:`~molmtl.nn.geometry.pair_edges`). Results differ only by rounding.
        self.min_edges_to_pair = MIN_EDGES_TO_PAIR
        # Kept out of the module tree (and so out of the state dict); see compile_encoder.
        self.__dict__["_compiled_encoder"] = None

    @property
    def cutoff(self) -> float:
        """Radial cutoff in Å."""
        return self.config.cutoff

    @property
    def atomic_numbers(self) -> list[int]:
        """Atomic numbers of the supported elements, sorted."""
        return list(self.config.atomic_numbers)

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of the weights and features."""
        return self.encoder.embedding.weight.dtype

    def compile_encoder(self, **options: Any) -> None:
        """Compile the encoder with ``torch.compile(dynamic=True, **options)`` for evaluation mode.

        Opt-in, because the first call compiles for minutes: 3 to 4.5 minutes of wall time
        (about 30 s of CPU time) for the default size with torch 2.13 on a loaded 2-core
        machine. After that, changing atom and edge counts reuse the compiled code. The
        compiled encoder runs only in evaluation mode. Training mode needs second derivatives
        of the forces, so it always runs the eager encoder. The compiled code is not saved
        with the model, so call this again after loading.
        """
        self.__dict__["_compiled_encoder"] = torch.compile(self.encoder, dynamic=True, **options)

    def readout(
        self,
        element: torch.Tensor,
        positions: torch.Tensor,
        vectors: torch.Tensor,
        lengths: torch.Tensor,
        edge_index: torch.Tensor,
        pairs: EdgePairs | None,
        batch: torch.Tensor,
        total_charge: torch.Tensor,
        num_atoms: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Run the encoder and the heads on prepared edges; return the head outputs (no derivatives).

        ``element`` [N] are element indices, ``vectors`` [E, 3] and ``lengths`` [E, 1] the edge
        vectors ``r_j - r_i`` (Å) of ``edge_index`` [2, E] (receiver ``i`` first), ``batch`` [N]
        the structure of each atom, and ``total_charge`` and ``num_atoms`` [B] are float64.
        :meth:`forward` and :class:`~molmtl.nn.inference_core.InferenceCore` both call this.
        """
        compiled = self.__dict__["_compiled_encoder"]
        encoder = compiled if compiled is not None and not self.training else self.encoder
        features, envelope = encoder(element, vectors, lengths, edge_index, pairs)
        coordination = torch.zeros(element.shape[0], dtype=torch.float64, device=element.device)
        coordination = coordination.index_add(0, edge_index[0], envelope.squeeze(-1).to(torch.float64))
        context = HeadContext(
            positions=positions,
            element=element,
            batch=batch,
            num_graphs=total_charge.shape[0],
            total_charge=total_charge,
            num_atoms=num_atoms,
            coordination=coordination,
        )
        outputs: dict[str, torch.Tensor] = {}
        for head in self.heads.values():
            outputs.update(head(features, context, outputs))
        return outputs

    def forward(
        self, data: Any, compute_forces: bool = True, compute_stress: bool = False
    ) -> dict[str, torch.Tensor]:
        """Evaluate the heads, and forces and stress by autograd, on a ``Data`` or ``Batch``."""
        dtype = self.dtype
        numbers = data[keys.ATOMIC_NUMBERS]
        element = self.elements(numbers)
        num_atoms_total = numbers.shape[0]
        cell = data[keys.CELL].to(dtype).reshape(-1, 3, 3)
        num_graphs = cell.shape[0]
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = torch.zeros(num_atoms_total, dtype=torch.long, device=numbers.device)
        num_atoms = torch.bincount(batch, minlength=num_graphs)
        edge_index = data[keys.EDGE_INDEX]
        if compute_stress and "energy" not in self.heads:
            raise ValueError("compute_stress needs the energy head; enable 'energy' in the model's heads")
        compute_forces = compute_forces and "energy" in self.heads
        positions = data[keys.POSITIONS].to(dtype)
        ptr = torch.cat([num_atoms.new_zeros(1), torch.cumsum(num_atoms, 0)])
        check_finite_positions(positions, batch, ptr)
        shifts = data[keys.SHIFTS]
        geometry = build_geometry(
            positions,
            cell,
            edge_index,
            shifts.to(dtype),
            batch,
            num_graphs,
            compute_forces,
            compute_stress,
        )
        check_min_distance(geometry.lengths, edge_index, batch, ptr, self.config.min_distance)

        pairs = pair_edges(edge_index, shifts, num_atoms_total, self.min_edges_to_pair)
        total_charge = getattr(data, keys.TOTAL_CHARGE, None)
        if total_charge is None:
            total_charge = torch.zeros(num_graphs, dtype=torch.float64, device=numbers.device)
        outputs = self.readout(
            element,
            geometry.positions,
            geometry.vectors,
            geometry.lengths,
            edge_index,
            pairs,
            batch,
            total_charge.reshape(num_graphs).to(torch.float64),
            num_atoms.to(torch.float64),
        )

        if compute_forces or compute_stress:
            outputs.update(
                energy_gradients(
                    outputs["energy"],
                    geometry.positions,
                    geometry.displacement,
                    geometry.cell,
                    data[keys.PBC],
                    compute_forces,
                    compute_stress,
                    create_graph=self.training,
                )
            )
        return outputs
