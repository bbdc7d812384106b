"""Protein tasks for the multi-task trainer: SS8, SS3, RSA and buried/exposed, each masked per residue.

A residue contributes to a task only where that task's label is present (class index >= 0 for
secondary structure, ``rsa_mask`` for accessibility) and the residue is not padding. So chains
with secondary structure but no accessibility (CB513) and chains with both (DSSP-derived sets)
train one model together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from molmtl.protein.dataset import ProteinBatch, ProteinSample, collate_proteins
from molmtl.protein.model import ProteinModel
from molmtl.training.task import MultiTaskProblem, Task, TaskOutput

#: Task names accepted in configs, with the label each one reads.
TASK_LABELS = {"ss8": "ss8", "ss3": "ss3", "rsa": "rsa", "buried": "rsa"}


def _empty_output(reference: torch.Tensor) -> TaskOutput:
    zero = reference.sum() * 0.0
    return TaskOutput(zero, zero.detach().clone(), zero.detach().clone(), zero.detach().clone())


class _ClassificationTask(Task):
    """Masked cross-entropy over residues; ``abs_error_sum`` counts misclassified residues."""

    logits_key = ""
    label_attribute = ""

    def evaluate(self, outputs: Mapping[str, torch.Tensor], batch: ProteinBatch) -> TaskOutput:
        logits = outputs[self.logits_key]
        labels = getattr(batch, self.label_attribute)
        present = (labels >= 0) & batch.padding_mask
        count = present.sum()
        if int(count) == 0:
            return _empty_output(logits)
        selected = logits[present]
        targets = labels[present]
        loss = functional.cross_entropy(selected, targets)
        wrong = (selected.argmax(dim=-1) != targets).sum().to(logits.dtype)
        return TaskOutput(loss, count.to(logits.dtype), wrong.detach(), wrong.detach())

    def label_count(self, dataset: Any) -> int:
        counter = getattr(dataset, "label_count", None)
        return int(counter(self.label_attribute)) if counter else -1


class SS8Task(_ClassificationTask):
    """8-state secondary structure (cross-entropy on ``ss8_logits``)."""

    logits_key = "ss8_logits"
    label_attribute = "ss8"

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__("ss8", weight)


class SS3Task(_ClassificationTask):
    """3-state secondary structure (cross-entropy on ``ss3_logits``)."""

    logits_key = "ss3_logits"
    label_attribute = "ss3"

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__("ss3", weight)


class RSATask(Task):
    """Relative solvent accessibility: masked mean squared error of the sigmoid output."""

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__("rsa", weight)

    def evaluate(self, outputs: Mapping[str, torch.Tensor], batch: ProteinBatch) -> TaskOutput:
        prediction = outputs["rsa"]
        present = batch.rsa_mask & batch.padding_mask
        count = present.sum()
        if int(count) == 0:
            return _empty_output(prediction)
        error = prediction[present] - batch.rsa[present].to(prediction.dtype)
        loss = (error**2).mean()
        return TaskOutput(loss, count.to(prediction.dtype), error.abs().sum().detach(), (error**2).sum().detach())

    def label_count(self, dataset: Any) -> int:
        counter = getattr(dataset, "label_count", None)
        return int(counter("rsa")) if counter else -1


class BuriedExposedTask(Task):
    """Buried/exposed classification: binary cross-entropy, exposed where RSA >= ``threshold``."""

    def __init__(self, threshold: float, weight: float = 1.0) -> None:
        super().__init__("buried", weight)
        self.threshold = float(threshold)

    def evaluate(self, outputs: Mapping[str, torch.Tensor], batch: ProteinBatch) -> TaskOutput:
        logits = outputs["exposed_logit"]
        present = batch.rsa_mask & batch.padding_mask
        count = present.sum()
        if int(count) == 0:
            return _empty_output(logits)
        selected = logits[present]
        targets = (batch.rsa[present] >= self.threshold).to(logits.dtype)
        loss = functional.binary_cross_entropy_with_logits(selected, targets)
        wrong = ((selected >= 0).to(logits.dtype) != targets).sum().to(logits.dtype)
        return TaskOutput(loss, count.to(logits.dtype), wrong.detach(), wrong.detach())

    def label_count(self, dataset: Any) -> int:
        counter = getattr(dataset, "label_count", None)
        return int(counter("rsa")) if counter else -1


def build_tasks(weights: Mapping[str, float], buried_threshold: float) -> list[Task]:
    """Create the tasks named in ``weights`` (``ss8``, ``ss3``, ``rsa``, ``buried``) with those weights."""
    unknown = sorted(set(weights) - set(TASK_LABELS))
    if unknown:
        raise ValueError(f"unknown protein tasks {unknown}; valid tasks are {sorted(TASK_LABELS)}")
    if not weights:
        raise ValueError("at least one protein task is required (ss8, ss3, rsa or buried)")
    factories = {
        "ss8": lambda w: SS8Task(w),
        "ss3": lambda w: SS3Task(w),
        "rsa": lambda w: RSATask(w),
        "buried": lambda w: BuriedExposedTask(buried_threshold, w),
    }
    return [factories[name](float(weight)) for name, weight in weights.items()]


class ProteinProblem(MultiTaskProblem):
    """Connects :class:`ProteinModel` and :class:`ProteinBatch` to the multi-task trainer."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        self.tasks = list(tasks)

    def forward(self, model: nn.Module, batch: ProteinBatch, training: bool) -> dict[str, torch.Tensor]:
        return model(batch.features, batch.padding_mask)

    def shared_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        return [parameter for parameter in _unwrap(model).encoder.parameters() if parameter.requires_grad]

    def last_shared_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        """Return the weight of the encoder's final LayerNorm, the last shared layer before the heads."""
        return [_unwrap(model).encoder.output.weight]

    def batch_size(self, batch: ProteinBatch) -> int:
        return batch.num_graphs

    def collate(self, samples: list[ProteinSample]) -> ProteinBatch:
        """Pad :class:`ProteinDataset` items into one :class:`ProteinBatch`."""
        return collate_proteins(samples)

    def save_model(self, model: nn.Module, path: str) -> None:
        from molmtl.protein.model import save_protein_model

        save_protein_model(_unwrap(model), path)


def _unwrap(model: nn.Module) -> ProteinModel:
    """Return the :class:`ProteinModel` inside a DDP or EMA wrapper (attribute ``module``)."""
    while not isinstance(model, ProteinModel) and hasattr(model, "module"):
        model = model.module
    if not isinstance(model, ProteinModel):
        raise TypeError(f"expected a ProteinModel, got {type(model).__name__}")
    return model
