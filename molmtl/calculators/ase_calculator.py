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

from molmtl.calculators.evaluators import CompiledEvaluator, EagerEvaluator, is_compiled_path
from molmtl.calculators.memory import retain_freed_memory
from molmtl.calculators.skin_neighbors import SkinNeighborList
from molmtl.calculators.validation import check_atoms, total_charge_of

if TYPE_CHECKING:
    from ase import Atoms

    from molmtl.nn.aot import CompiledModel

#: Name of the extra state change reported when ``atoms.info["charge"]`` changes.
CHARGE_CHANGE = "charge"


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


class MolMTLCalculator(Calculator):
    """ASE calculator that evaluates a molmtl model on one structure.

    Args:
        model_or_path: a :class:`~molmtl.nn.model.MolMTLModel`, the path of a saved
            ``model.pt``, or the path of a compiled ``.pt2`` package (``molmtl compile``;
            several times faster for small molecules, see :mod:`molmtl.nn.aot`).
        device: torch device for the evaluation, for example ``"cpu"`` or ``"cuda"``. A
            compiled package runs on the device it was compiled for.
        dtype: cast the model to this dtype (``torch.float64`` for MD and tests of
            conservation); ``None`` keeps the model's own dtype. A compiled package keeps
            the dtype it was compiled with.
        skin: Verlet skin in Å added to the model cutoff. The neighbour list is searched
            again only when an atom moved more than ``skin / 2`` or the cell changed.
            ``0`` searches at every new geometry.
        retain_memory: keep freed buffers in the process between evaluations (glibc only,
            see :mod:`molmtl.calculators.memory`). This made a step of a 1,536-atom water
            box about 1.4 times faster; the process then keeps its peak heap size.

    The total charge is ``atoms.info["charge"]`` (e, default 0). Stress is available only for
    structures that are periodic in all three directions. The eager model computes it when
    it is asked for, and from then on with every evaluation (as an NPT integrator asks for
    it at every step), so plain MD pays nothing for it; a compiled package computes it with
    every evaluation. Results belong to one state of the atoms: a change of positions,
    numbers, cell, pbc or total charge discards them, and a property asked for later on an
    unchanged state is computed only if it is missing. ``evaluation_count`` counts the model
    evaluations.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress", "dipole", "charges"]
    default_parameters: dict[str, Any] = {}

    def __init__(
        self,
        model_or_path: torch.nn.Module | CompiledModel | str | os.PathLike[str],
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        skin: float = 1.0,
        retain_memory: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if retain_memory:
            retain_freed_memory()
        self.evaluator = make_evaluator(model_or_path, torch.device(device), dtype)
        self.device = self.evaluator.device
        self.dtype = self.evaluator.dtype
        self.cutoff = self.evaluator.cutoff
        self.neighbors = SkinNeighborList(self.cutoff, skin, half=self.evaluator.half_list)
        self.evaluation_count = 0
        self._stress_requested = False

    @property
    def model(self) -> torch.nn.Module | None:
        """The eager model, or ``None`` for a compiled package."""
        return getattr(self.evaluator, "model", None)

    def check_state(self, atoms: Atoms, tol: float = 1e-15) -> list[str]:
        """Return the names of what changed since the last evaluation (ASE's ``all_changes``, plus ``"charge"``).

        Arrays are compared for exact equality, which an MD step (asking for the state
        several times) does in a fraction of the time of ASE's tolerance-based comparison.
        ``tol`` is accepted for ASE's interface; a difference below it counts as a change
        and costs one evaluation with the same result.
        """
        reference = self.atoms
        if reference is None:
            return list(all_changes)
        changes = [name for name in ("cell", "pbc") if not np.array_equal(getattr(atoms, name), getattr(reference, name))]
        for name in all_changes:
            if name in ("cell", "pbc") or name in self.ignored_changes:
                continue
            current, previous = atoms.arrays.get(name), reference.arrays.get(name)
            if (current is None) != (previous is None):
                changes.append(name)
            elif current is not None and not np.array_equal(current, previous):
                changes.append(name)
        if total_charge_of(atoms) != total_charge_of(reference):
            changes.append(CHARGE_CHANGE)
        return changes

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: list[str] | None = None,
        system_changes: list[str] = all_changes,
    ) -> None:
        """Evaluate the model on ``atoms`` and store the requested properties in ``self.results``.

        Energy, per-atom energies, forces, dipole and charges come from one evaluation, and so
        does the stress once it has been asked for (see the class docstring).
        """
        properties = ["energy"] if properties is None else list(properties)
        if atoms is not None:
            if list(system_changes) == ["positions"] and self.atoms is not None and len(self.atoms) == len(atoms):
                # An MD step changes only the positions: update the stored copy instead of
                # copying the whole Atoms object (about a tenth of a small molecule's step).
                self.atoms.positions[:] = atoms.positions
            else:
                self.atoms = atoms.copy()
        if self.atoms is None:
            raise ValueError("no atoms to evaluate: pass an ase.Atoms object")
        atoms = self.atoms
        check_atoms(atoms)

        if "stress" in properties:
            if not atoms.pbc.all():
                raise PropertyNotImplementedError(
                    f"stress needs a structure periodic in all three directions, got pbc={atoms.pbc.tolist()}"
                )
            self._stress_requested = True
        if system_changes:
            self.results = {}
        want_stress = self._stress_requested and bool(atoms.pbc.all())
        cell = atoms.cell.array if atoms.pbc.any() else np.zeros((3, 3))
        edge_index, shifts = self.neighbors.update(atoms.positions, cell, atoms.pbc)
        lengths = self.neighbors.squared_lengths
        self.results.update(self.evaluator.evaluate(atoms, cell, edge_index, shifts, lengths, want_stress))
        self.evaluation_count += 1


def make_evaluator(
    model_or_path: torch.nn.Module | CompiledModel | str | os.PathLike[str], device: torch.device, dtype: torch.dtype | None
) -> EagerEvaluator | CompiledEvaluator:
    """Return the evaluator for a model, a ``model.pt`` path, a ``.pt2`` path or a loaded package."""
    from molmtl.nn.aot import CompiledModel

    if is_compiled_path(model_or_path):
        model_or_path = CompiledModel(model_or_path)  # type: ignore[arg-type]
    if isinstance(model_or_path, CompiledModel):
        if dtype is not None and dtype != model_or_path.dtype:
            raise ValueError(
                f"{model_or_path.path} was compiled for {model_or_path.dtype}, not {dtype}; "
                f"compile the model again with 'molmtl compile --dtype {str(dtype).removeprefix('torch.')}'"
            )
        if device.type != model_or_path.device.type:
            raise ValueError(
                f"{model_or_path.path} was compiled for the device '{model_or_path.device.type}', not "
                f"'{device.type}'; compile the model again with --device {device.type}"
            )
        return CompiledEvaluator(model_or_path)
    return EagerEvaluator(load_for_inference(model_or_path, device, dtype), device)
