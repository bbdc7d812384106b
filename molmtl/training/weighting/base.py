"""Base class of the task-weighting strategies."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class TaskWeighting(nn.Module):
    """Combine per-task losses into the scalar that the optimiser minimises.

    ``combine`` receives the stacked task losses ``[T]`` and a boolean ``present`` ``[T]``
    that is False for tasks without labels in the batch (their loss is an exact zero). Tasks
    whose user weight is zero are monitored only and never enter the total.

    Strategies with learnable state keep it as parameters or buffers of this module, so a
    checkpoint restores them through ``state_dict``. Parameters returned by
    :meth:`optimizer_parameters` join the model's optimiser.
    """

    #: Name used in configs (``weighting: fixed``).
    name = "base"
    #: True when :meth:`after_backward` needs the per-task gradient norms on the encoder's last layer.
    needs_task_gradient_norms = False

    def __init__(self, task_names: Sequence[str], user_weights: Sequence[float]) -> None:
        super().__init__()
        if len(task_names) != len(user_weights):
            raise ValueError(f"{len(task_names)} task names but {len(user_weights)} weights")
        if any(weight < 0 for weight in user_weights):
            raise ValueError(f"task weights must be >= 0, got {dict(zip(task_names, user_weights))}")
        self.task_names = list(task_names)
        self.register_buffer(
            "user_weights", torch.tensor([float(w) for w in user_weights], dtype=torch.float64)
        )
        self._epoch_sums: dict[str, float] = {}
        self._epoch_counts: dict[str, int] = {}

    @property
    def active(self) -> torch.Tensor:
        """Boolean mask ``[T]`` of the tasks that contribute to the loss (user weight > 0)."""
        return self.user_weights > 0

    def combine(self, losses: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Return the scalar training loss built from ``losses`` ``[T]``."""
        raise NotImplementedError

    def task_weights(self) -> torch.Tensor:
        """Return the effective multiplier of each task's loss ``[T]`` (for logging)."""
        return self.user_weights.clone()

    def optimizer_parameters(self) -> list[nn.Parameter]:
        """Return learnable parameters that the model's optimiser should update."""
        return []

    def after_backward(
        self, losses: torch.Tensor, present: torch.Tensor, gradient_norms: torch.Tensor | None
    ) -> None:
        """Update internal state after the backward pass of one batch (default: nothing)."""

    def _record(self, name: str, value: float) -> None:
        self._epoch_sums[name] = self._epoch_sums.get(name, 0.0) + float(value)
        self._epoch_counts[name] = self._epoch_counts.get(name, 0) + 1

    def epoch_diagnostics(self) -> dict[str, float]:
        """Return per-epoch diagnostics (means of recorded values plus the current weights) and reset them."""
        values = {name: self._epoch_sums[name] / self._epoch_counts[name] for name in self._epoch_sums}
        self._epoch_sums.clear()
        self._epoch_counts.clear()
        for name, weight in zip(self.task_names, self.task_weights().tolist()):
            values[f"weight_{name}"] = weight
        return values
