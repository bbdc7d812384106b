"""Molecular tasks: energy per atom, force components, dipole vector, partial charges and stress.

Each task compares one model output with one label, using only the structures whose
presence mask (``<label>_mask``) is true. The loss is the mean over labelled elements of the
MSE or Huber loss, optionally weighted per structure by the ``weight`` key of the data
(metrics are never weighted).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as functional

from molmtl.data import keys
from molmtl.training.task import Task, TaskOutput

LossName = Literal["mse", "huber"]


class MolecularTask(Task):
    """Masked regression of ``output_key`` against the label ``label_key``.

    Subclasses set the keys and the unit, and :meth:`select` picks and flattens the compared
    values. ``loss`` is ``"mse"`` or ``"huber"``; ``huber_delta`` is the
    Huber threshold in the label's unit (per atom for the energy task).
    """

    label_key: str = ""
    output_key: str = ""
    unit: str = ""

    def __init__(
        self, name: str | None = None, weight: float = 1.0, loss: LossName = "mse", huber_delta: float = 0.01
    ) -> None:
        super().__init__(name or self.label_key, weight)
        if loss not in ("mse", "huber"):
            raise ValueError(f"unknown loss {loss!r} for task {self.name!r}; use 'mse' or 'huber'")
        if not huber_delta > 0:
            raise ValueError(f"huber_delta must be positive, got {huber_delta} for task {self.name!r}")
        self.loss_name = loss
        self.huber_delta = float(huber_delta)

    def select(
        self, outputs: Mapping[str, torch.Tensor], batch: Any
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(prediction, reference, element_weight)`` of the labelled elements, flattened."""
        raise NotImplementedError

    def evaluate(self, outputs: Mapping[str, torch.Tensor], batch: Any) -> TaskOutput:
        if self.output_key not in outputs:
            raise KeyError(
                f"task {self.name!r} needs the model output {self.output_key!r}, which the model did not "
                "return; enable its head"
            )
        prediction, reference, element_weight = self.select(outputs, batch)
        count = torch.tensor(prediction.numel(), device=prediction.device)
        if prediction.numel() == 0:
            zero = outputs[self.output_key].sum() * 0.0
            return TaskOutput(zero, count, zero.detach(), zero.detach())
        reference = reference.to(prediction.dtype)
        error = prediction - reference
        if self.loss_name == "huber":
            elementwise = functional.huber_loss(
                prediction, reference, reduction="none", delta=self.huber_delta
            )
        else:
            elementwise = error.pow(2)
        element_weight = element_weight.to(prediction.dtype)
        loss = (element_weight * elementwise).sum() / element_weight.sum().clamp(
            min=torch.finfo(prediction.dtype).tiny
        )
        detached = error.detach()
        return TaskOutput(loss, count, detached.abs().sum(), detached.pow(2).sum())

    def label_count(self, dataset: Any) -> int:
        """Return the number of structures in ``dataset`` that carry this task's label."""
        counts = dataset.label_counts() if hasattr(dataset, "label_counts") else None
        return int(counts.get(self.label_key, 0)) if counts is not None else -1


def _structure_weights(batch: Any, num_graphs: int, reference: torch.Tensor) -> torch.Tensor:
    weight = getattr(batch, keys.WEIGHT, None)
    if weight is None:
        return torch.ones(num_graphs, dtype=reference.dtype, device=reference.device)
    return weight.reshape(num_graphs).to(reference.dtype)


def _graph_mask(batch: Any, label: str) -> torch.Tensor:
    return batch[keys.mask_key(label)].reshape(-1).bool()


def _atom_batch(batch: Any) -> torch.Tensor:
    index = getattr(batch, "batch", None)
    if index is None:
        return torch.zeros(
            batch[keys.ATOMIC_NUMBERS].shape[0], dtype=torch.long, device=batch[keys.ATOMIC_NUMBERS].device
        )
    return index


class EnergyPerAtomTask(MolecularTask):
    """Total energy divided by the number of atoms (eV/atom), per structure."""

    label_key = keys.ENERGY
    output_key = keys.ENERGY
    unit = "eV/atom"

    def select(self, outputs, batch):
        prediction = outputs[self.output_key].reshape(-1)
        num_graphs = prediction.shape[0]
        num_atoms = torch.bincount(_atom_batch(batch), minlength=num_graphs).to(prediction.dtype)
        mask = _graph_mask(batch, self.label_key)
        reference = batch[self.label_key].reshape(-1)
        weights = _structure_weights(batch, num_graphs, prediction)
        return (
            (prediction / num_atoms)[mask],
            (reference.to(prediction.dtype) / num_atoms)[mask],
            weights[mask],
        )


class ForcesTask(MolecularTask):
    """Force components (eV/Å) of every atom of the labelled structures."""

    label_key = keys.FORCES
    output_key = keys.FORCES
    unit = "eV/Angstrom"

    def select(self, outputs, batch):
        prediction = outputs[self.output_key]
        atom_batch = _atom_batch(batch)
        num_graphs = int(batch[keys.mask_key(self.label_key)].numel())
        atom_mask = _graph_mask(batch, self.label_key)[atom_batch]
        weights = _structure_weights(batch, num_graphs, prediction)[atom_batch][atom_mask]
        return (
            prediction[atom_mask].reshape(-1),
            batch[self.label_key][atom_mask].reshape(-1),
            weights.repeat_interleave(3),
        )


class DipoleTask(MolecularTask):
    """Dipole vector components (e·Å, about the centre of mass) per structure."""

    label_key = keys.DIPOLE
    output_key = keys.DIPOLE
    unit = "e*Angstrom"

    def select(self, outputs, batch):
        prediction = outputs[self.output_key].reshape(-1, 3)
        mask = _graph_mask(batch, self.label_key)
        weights = _structure_weights(batch, prediction.shape[0], prediction)[mask]
        reference = batch[self.label_key].reshape(-1, 3)[mask]
        return prediction[mask].reshape(-1), reference.reshape(-1), weights.repeat_interleave(3)


class ChargesTask(MolecularTask):
    """Partial charges (e) of every atom of the labelled structures."""

    label_key = keys.CHARGES
    output_key = keys.CHARGES
    unit = "e"

    def select(self, outputs, batch):
        prediction = outputs[self.output_key].reshape(-1)
        atom_batch = _atom_batch(batch)
        num_graphs = int(batch[keys.mask_key(self.label_key)].numel())
        atom_mask = _graph_mask(batch, self.label_key)[atom_batch]
        weights = _structure_weights(batch, num_graphs, prediction)[atom_batch][atom_mask]
        return prediction[atom_mask], batch[self.label_key].reshape(-1)[atom_mask], weights


class StressTask(MolecularTask):
    """Stress tensor components (eV/Å^3, ASE sign convention) per structure."""

    label_key = keys.STRESS
    output_key = keys.STRESS
    unit = "eV/Angstrom^3"

    def select(self, outputs, batch):
        prediction = outputs[self.output_key].reshape(-1, 9)
        mask = _graph_mask(batch, self.label_key)
        weights = _structure_weights(batch, prediction.shape[0], prediction)[mask]
        reference = batch[self.label_key].reshape(-1, 9)[mask]
        return prediction[mask].reshape(-1), reference.reshape(-1), weights.repeat_interleave(9)


#: Task classes by name, in the order the trainer lists them.
TASKS: dict[str, type[MolecularTask]] = {
    "energy": EnergyPerAtomTask,
    "forces": ForcesTask,
    "dipole": DipoleTask,
    "charges": ChargesTask,
    "stress": StressTask,
}
