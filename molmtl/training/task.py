"""The contract between the generic multi-task trainer and a domain.

The trainer (loop, task weighting, gradient-conflict diagnostic, EMA, checkpoints, logging,
DDP) contains nothing specific to molecules, proteins or patients. A domain plugs in by providing:

* one :class:`Task` per objective: it turns model outputs and a batch into a masked loss
  and error sums; and
* one :class:`MultiTaskProblem`: it runs the model on a batch and names the parameters that are
  shared by all tasks (for the gradient diagnostics and GradNorm).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass
class TaskOutput:
    """Result of one task on one batch.

    ``loss`` is the mean loss over the labelled elements (a scalar that carries gradients;
    exactly zero, still attached to the graph, when ``count`` is zero). ``count`` is the
    number of labelled elements (structures, atoms × components, residues ...), and the
    error sums feed MAE = abs_error_sum / count and RMSE = sqrt(squared_error_sum / count).
    For classification tasks ``abs_error_sum`` is the number of misclassified elements.
    """

    loss: torch.Tensor
    count: torch.Tensor
    abs_error_sum: torch.Tensor
    squared_error_sum: torch.Tensor


class Task(ABC):
    """One supervised objective: a name, a user weight and a masked loss."""

    def __init__(self, name: str, weight: float = 1.0) -> None:
        self.name = name
        self.weight = float(weight)

    @abstractmethod
    def evaluate(self, outputs: Mapping[str, torch.Tensor], batch: Any) -> TaskOutput:
        """Compute the masked loss and error sums of this task on one batch."""

    def label_count(self, dataset: Any) -> int:
        """Return how many labelled elements ``dataset`` holds for this task.

        The trainer calls this before training and raises if a task with a positive weight
        has no labels. Domains override it with a cheap count (for example from presence
        masks stored in the file); the default returns -1 ("unknown") and the check is skipped.
        """
        return -1


class MultiTaskProblem(ABC):
    """Glue between the trainer and a domain's model and batches."""

    tasks: Sequence[Task]

    @abstractmethod
    def forward(self, model: nn.Module, batch: Any, training: bool) -> dict[str, torch.Tensor]:
        """Run ``model`` on ``batch`` and return the outputs that the tasks read."""

    @abstractmethod
    def shared_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        """Parameters shared by every task (the encoder), used for gradient cosines."""

    def last_shared_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        """Parameters of the encoder's last layer, where GradNorm measures gradient norms."""
        return self.shared_parameters(model)[-1:]

    #: True when ``forward`` needs autograd during validation (e.g. forces as -dE/dR); the
    #: trainer then validates with gradients enabled instead of under ``torch.no_grad()``.
    requires_grad_for_evaluation: bool = False

    def collate(self, samples: list[Any]) -> Any:
        """Merge dataset items into one batch (default: ``torch.utils.data.default_collate``)."""
        return torch.utils.data.default_collate(samples)

    def batch_size(self, batch: Any) -> int:
        """Return the number of samples (structures, chains, patients) in ``batch``."""
        return int(getattr(batch, "num_graphs", len(batch)))

    def move_batch(self, batch: Any, device: torch.device) -> Any:
        """Move ``batch`` to ``device`` (batches with a ``.to`` method work as they are)."""
        return batch.to(device)

    def save_model(self, model: nn.Module, path: str) -> None:
        """Write the deployable model file (``model.pt``) for ``model``; by default its state dict."""
        from molmtl.atomic_io import atomic_torch_save

        atomic_torch_save({"state_dict": model.state_dict()}, path)
