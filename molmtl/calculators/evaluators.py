"""The two ways :class:`~molmtl.calculators.ase_calculator.MolMTLCalculator` evaluates a structure.

* :class:`EagerEvaluator` runs a :class:`~molmtl.nn.model.MolMTLModel` in PyTorch on a full
  neighbour list. It works for any dtype and device, and computes the stress only when asked.
* :class:`CompiledEvaluator` runs an AOTInductor package from :func:`molmtl.nn.aot.compile_model`
  on a half neighbour list (one entry per pair). It returns the virial with every call.

Both return ASE results in ASE units: energy (eV), per-atom energies (eV), forces (eV/Å),
stress (eV/Å^3, Voigt order, ASE sign), dipole (e·Å, about the centre of mass) and charges (e).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from molmtl.calculators.validation import total_charge_of

if TYPE_CHECKING:
    from ase import Atoms

    from molmtl.nn.aot import CompiledModel


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """Return a float64 NumPy copy of ``tensor``."""
    return tensor.detach().cpu().to(torch.float64).numpy()


def _results(outputs: dict[str, torch.Tensor], stress: np.ndarray | None) -> dict[str, Any]:
    """Turn one structure's output tensors into ASE results."""
    energy = float(_to_numpy(outputs["energy"]).reshape(-1)[0])
    results: dict[str, Any] = {
        "energy": energy,
        "free_energy": energy,
        "energies": _to_numpy(outputs["node_energy"]).reshape(-1),
        "forces": _to_numpy(outputs["forces"]).reshape(-1, 3),
    }
    if "dipole" in outputs:
        results["dipole"] = _to_numpy(outputs["dipole"]).reshape(3)
    if "charges" in outputs:
        results["charges"] = _to_numpy(outputs["charges"]).reshape(-1)
    if stress is not None:
        from ase.stress import full_3x3_to_voigt_6_stress

        results["stress"] = full_3x3_to_voigt_6_stress(stress.reshape(3, 3))
    return results


class EagerEvaluator:
    """Evaluate a :class:`~molmtl.nn.model.MolMTLModel` (eval mode) on one structure with a full neighbour list."""

    #: The neighbour list contains both directions of every pair.
    half_list = False

    def __init__(self, model: torch.nn.Module, device: torch.device) -> None:
        self.model = model
        self.device = device
        self.dtype = model_dtype(model)
        self.cutoff = model_cutoff(model)

    def evaluate(
        self,
        atoms: Atoms,
        cell: np.ndarray,
        edge_index: np.ndarray,
        shifts: np.ndarray,
        squared_lengths: np.ndarray,
        want_stress: bool,
    ) -> dict[str, Any]:
        """Return ASE results for ``atoms``; ``stress`` only when ``want_stress``.

        ``squared_lengths`` is not used: the model checks distances itself.
        """
        data = self._build_data(atoms, cell, edge_index, shifts)
        with torch.enable_grad():
            outputs = self.model(data, compute_forces=True, compute_stress=want_stress)
        stress = _to_numpy(outputs["stress"]) if want_stress else None
        return _results(outputs, stress)

    def _build_data(self, atoms: Atoms, cell: np.ndarray, edge_index: np.ndarray, shifts: np.ndarray) -> Any:
        """Convert ``atoms`` to a one-graph ``Data`` with an all-zero ``batch`` vector.

        ``Batch.from_data_list`` on a single graph gives the same tensors and took about 13 %
        of a small molecule's MD step.
        """
        from torch_geometric.data import Data

        from molmtl.data import keys

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


class CompiledEvaluator:
    """Evaluate an AOTInductor package (:class:`~molmtl.nn.aot.CompiledModel`) on a half neighbour list.

    The compiled function takes element indices, so unknown elements are caught here, and it
    does no input checks, so this class checks the closest pair against the model's
    ``min_distance``. Structures need at least two atoms.
    """

    #: The neighbour list contains one entry per pair, and the compiled function adds the reverse edges.
    half_list = True

    def __init__(self, compiled: CompiledModel) -> None:
        self.compiled = compiled
        self.device = compiled.device
        self.dtype = compiled.dtype
        self.cutoff = compiled.cutoff
        self._elements: tuple[np.ndarray, torch.Tensor] | None = None

    def evaluate(
        self,
        atoms: Atoms,
        cell: np.ndarray,
        edge_index: np.ndarray,
        shifts: np.ndarray,
        squared_lengths: np.ndarray,
        want_stress: bool,
    ) -> dict[str, Any]:
        """Return ASE results for ``atoms``; the stress is included for fully periodic cells.

        ``squared_lengths`` (Å^2) of the pairs are used for the closest-pair check.
        """
        from molmtl.nn.aot import MIN_ATOMS, MIN_PAIRS

        if len(atoms) < MIN_ATOMS:
            raise ValueError(
                f"a compiled model needs at least {MIN_ATOMS} atoms, got {len(atoms)}; "
                "use the model.pt file for single atoms"
            )
        element = self._element_indices(atoms.numbers)
        self._check_distances(edge_index, squared_lengths)
        if edge_index.shape[1] < MIN_PAIRS:
            edge_index, shifts, cell = _pad_pairs(edge_index, shifts, MIN_PAIRS, self.cutoff, cell)
        dtype = self.dtype
        inputs = [
            torch.as_tensor(atoms.positions, dtype=dtype),
            element,
            torch.from_numpy(edge_index),
            torch.as_tensor(shifts, dtype=dtype),
            torch.as_tensor(cell, dtype=dtype),
            torch.tensor([total_charge_of(atoms)], dtype=torch.float64),
        ]
        if self.device.type != "cpu":
            inputs = [tensor.to(self.device) for tensor in inputs]
        outputs = self.compiled(*inputs)
        stress = None
        if atoms.pbc.all():
            stress = -_to_numpy(outputs["virial"]) / abs(np.linalg.det(cell))
        return _results(outputs, stress)

    def _element_indices(self, numbers: np.ndarray) -> torch.Tensor:
        """Return the element indices of ``numbers``, reusing the last result while the numbers stay the same."""
        cached = self._elements
        if cached is None or not np.array_equal(cached[0], numbers):
            cached = (numbers.copy(), self.compiled.element_indices(numbers))
            self._elements = cached
        return cached[1]

    def _check_distances(self, edge_index: np.ndarray, squared_lengths: np.ndarray) -> None:
        """Raise ``ValueError`` naming the closest pair if it is closer than the model's ``min_distance``."""
        if edge_index.shape[1] == 0 or self.compiled.min_distance <= 0:
            return
        closest = int(np.argmin(squared_lengths))
        distance = float(np.sqrt(squared_lengths[closest]))
        if distance < self.compiled.min_distance:
            i, j = edge_index[:, closest]
            raise ValueError(
                f"atoms {int(i)} and {int(j)} are {distance:.4g} Angstrom apart, closer than "
                f"{self.compiled.min_distance} Angstrom; check the geometry for overlapping or duplicated atoms"
            )


def _pad_pairs(
    edge_index: np.ndarray, shifts: np.ndarray, count: int, cutoff: float, cell: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the pairs padded to ``count`` with self-images of atom 0 beyond the cutoff, and the cell to use.

    The compiled function needs at least ``count`` pairs (a dimer has one, far-apart atoms
    none). A padding pair links atom 0 to its own image ``k`` lattice vectors away, longer
    than the cutoff, where the envelope and its derivative vanish, so it adds exactly zero
    to every output. A structure without any lattice vector (a molecule with a zero cell)
    gets the unit cell for this purpose. Its real pairs have zero shifts, so that cell does
    not change them, and a molecule has no stress to report.
    """
    lengths = np.linalg.norm(cell, axis=1)
    if lengths.max() == 0:
        cell = np.eye(3)
        lengths = np.ones(3)
    direction = int(np.argmax(lengths))
    image = np.floor(cutoff / lengths[direction]) + 1.0
    missing = count - edge_index.shape[1]
    padding_shifts = np.zeros((missing, 3))
    padding_shifts[:, direction] = image
    padded = np.concatenate([edge_index, np.zeros((2, missing), dtype=np.int64)], axis=1)
    return padded, np.concatenate([shifts, padding_shifts]), cell


def model_cutoff(model: torch.nn.Module) -> float:
    """Return the model's radial cutoff in Å."""
    config = getattr(model, "config", None)
    cutoff = getattr(config, "cutoff", None)
    if cutoff is None:
        cutoff = getattr(model, "cutoff", None)
    if cutoff is None:
        raise TypeError(f"{type(model).__name__} has no cutoff (expected model.config.cutoff); pass a MolMTLModel")
    return float(cutoff)


def model_dtype(model: torch.nn.Module) -> torch.dtype:
    """Return the floating-point dtype of the model's parameters (float64 for a model without any)."""
    for parameter in model.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float64


def is_compiled_path(model_or_path: Any) -> bool:
    """Return True for the path of an AOTInductor package (``.pt2``)."""
    return isinstance(model_or_path, (str, os.PathLike)) and os.fspath(model_or_path).endswith(".pt2")
