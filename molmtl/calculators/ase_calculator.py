"""ASE calculator for a molmtl model: energy, forces, stress, dipole and partial charges.

Units are ASE's: eV, eV/Å, eV/Å^3 (ASE sign convention), e·Å and e. The dipole is taken
about the centre of mass, so for a charged structure it depends on that choice of origin.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from molmtl.calculators.skin_neighbors import SkinNeighborList
from molmtl.calculators.validation import check_atoms, total_charge_of

if TYPE_CHECKING:
    from ase import Atoms
    from torch_geometric.data import Data

#: Name of the extra state change reported when ``atoms.info["charge"]`` changes.
CHARGE_CHANGE = "charge"


def _model_cutoff(model: torch.nn.Module) -> float:
    """Return the model's radial cutoff in Å."""
    config = getattr(model, "config", None)
    cutoff = getattr(config, "cutoff", None)
    if cutoff is None:
        cutoff = getattr(model, "cutoff", None)
    if cutoff is None:
        raise TypeError(f"{type(model).__name__} has no cutoff (expected model.config.cutoff); pass a MolMTLModel")
    return float(cutoff)


def load_for_inference(
    model_or_path: torch.nn.Module | str | os.PathLike[str], device: str | torch.device, dtype: torch.dtype | None
) -> torch.nn.Module:
    """Load ``model_or_path`` (a model or a ``model.pt`` path), move it to ``device``/``dtype`` and set eval mode.

    A model object passed in is moved in place, as ``Module.to`` does.
    """
    if isinstance(model_or_path, (str, os.PathLike)):
        from molmtl.nn.serialization import load_model

        return load_model(model_or_path, dtype=dtype, device=device).eval()
    if not isinstance(model_or_path, torch.nn.Module):
        raise TypeError(
            f"expected a MolMTLModel or the path of a saved model, got {type(model_or_path).__name__}"
        )
    model = model_or_path.to(device=torch.device(device))
    if dtype is not None:
        model = model.to(dtype=dtype)
    return model.eval()


def model_dtype(model: torch.nn.Module) -> torch.dtype:
    """Return the floating-point dtype of the model's parameters (float64 for a model without any)."""
    for parameter in model.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float64


class MolMTLCalculator(Calculator):
    """ASE calculator that evaluates a molmtl model on one structure.

    Args:
        model_or_path: a :class:`~molmtl.nn.model.MolMTLModel` or the path of a saved model.
        device: torch device for the evaluation, for example ``"cpu"`` or ``"cuda"``.
        dtype: cast the model to this dtype (``torch.float64`` for MD and tests of
            conservation); ``None`` keeps the model's own dtype.
        skin: Verlet skin in Å added to the model cutoff. The neighbour list is searched
            again only when an atom moved more than ``skin / 2`` or the cell changed.
            ``0`` searches at every new geometry.

    The total charge is ``atoms.info["charge"]`` (e, default 0). Stress is available only for
    structures that are periodic in all three directions, and is then computed with the
    forces. Results belong to one state of
    the atoms: a change of positions, numbers, cell, pbc or total charge discards them, and
    a property asked for later on an unchanged state is computed only if it is missing.
    ``evaluation_count`` counts the model evaluations.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress", "dipole", "charges"]
    default_parameters: dict[str, Any] = {}

    def __init__(
        self,
        model_or_path: torch.nn.Module | str | os.PathLike[str],
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        skin: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.device = torch.device(device)
        self.model = load_for_inference(model_or_path, self.device, dtype)
        self.dtype = model_dtype(self.model)
        self.cutoff = _model_cutoff(self.model)
        self.neighbors = SkinNeighborList(self.cutoff, skin)
        self.evaluation_count = 0

    def check_state(self, atoms: Atoms, tol: float = 1e-15) -> list[str]:
        """Return ASE's list of changes since the last evaluation, plus ``"charge"`` when the total charge changed."""
        changes = list(super().check_state(atoms, tol=tol))
        if self.atoms is not None and total_charge_of(atoms) != total_charge_of(self.atoms):
            changes.append(CHARGE_CHANGE)
        return changes

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: list[str] | None = None,
        system_changes: list[str] = all_changes,
    ) -> None:
        """Evaluate the model on ``atoms`` and store the requested properties in ``self.results``.

        Energy, per-atom energies, forces, dipole and charges come from one evaluation. For a
        structure periodic in all three directions the stress comes from the same evaluation
        (the strain derivative shares the backward pass with the forces), so NPT steps cost
        one evaluation.
        """
        properties = ["energy"] if properties is None else list(properties)
        if atoms is not None:
            self.atoms = atoms.copy()
        if self.atoms is None:
            raise ValueError("no atoms to evaluate: pass an ase.Atoms object")
        atoms = self.atoms
        check_atoms(atoms)

        if "stress" in properties and not atoms.pbc.all():
            raise PropertyNotImplementedError(
                f"stress needs a structure periodic in all three directions, got pbc={atoms.pbc.tolist()}"
            )
        if system_changes:
            self.results = {}
        want_stress = bool(atoms.pbc.all())

        batch = self._build_batch(atoms)
        with torch.enable_grad():
            outputs = self.model(batch, compute_forces=True, compute_stress=want_stress)
        self.evaluation_count += 1
        self.results.update(self._convert(outputs, want_stress))

    def _build_batch(self, atoms: Atoms) -> Data:
        """Convert ``atoms`` to a one-graph batch with the skin neighbour list.

        The ``Data`` gets an all-zero ``batch`` vector directly: ``Batch.from_data_list`` on a
        single graph gives the same tensors and took about 13 % of a small molecule's MD step.
        """
        from torch_geometric.data import Data

        from molmtl.data import keys

        cell = atoms.cell.array if atoms.pbc.any() else np.zeros((3, 3))
        edge_index, shifts = self.neighbors.update(atoms.positions, cell, atoms.pbc)
        data = Data()
        data[keys.POSITIONS] = torch.as_tensor(atoms.positions, dtype=self.dtype)
        data[keys.ATOMIC_NUMBERS] = torch.as_tensor(atoms.numbers.astype(np.int64))
        data[keys.CELL] = torch.as_tensor(cell, dtype=self.dtype).reshape(1, 3, 3)
        data[keys.PBC] = torch.as_tensor(atoms.pbc.copy()).reshape(1, 3)
        data[keys.TOTAL_CHARGE] = torch.tensor([total_charge_of(atoms)], dtype=self.dtype)
        data[keys.EDGE_INDEX] = torch.from_numpy(edge_index)
        data[keys.SHIFTS] = torch.from_numpy(shifts).to(self.dtype)
        data[keys.WEIGHT] = torch.ones(1, dtype=self.dtype)
        data[keys.SPIN_MULTIPLICITY] = torch.tensor([int(atoms.info.get("spin_multiplicity", 0) or 0)])
        data.batch = torch.zeros(len(atoms), dtype=torch.long)
        return data.to(self.device)

    @staticmethod
    def _convert(outputs: dict[str, torch.Tensor], with_stress: bool) -> dict[str, Any]:
        """Turn the model's output tensors for one graph into ASE results (numpy, float64)."""

        def numpy(name: str) -> np.ndarray:
            return outputs[name].detach().cpu().to(torch.float64).numpy()

        energy = float(numpy("energy").reshape(-1)[0])
        results: dict[str, Any] = {
            "energy": energy,
            "free_energy": energy,
            "energies": numpy("node_energy").reshape(-1),
            "forces": numpy("forces").reshape(-1, 3),
        }
        if "dipole" in outputs:
            results["dipole"] = numpy("dipole").reshape(3)
        if "charges" in outputs:
            results["charges"] = numpy("charges").reshape(-1)
        if with_stress:
            from ase.stress import full_3x3_to_voigt_6_stress

            results["stress"] = full_3x3_to_voigt_6_stress(numpy("stress").reshape(3, 3))
        return results
