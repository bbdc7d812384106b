"""Learning-rate schedule: linear warm-up, then cosine decay or reduce-on-plateau."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch

ScheduleName = Literal["cosine", "plateau", "constant"]


class WarmupSchedule:
    """Scale every parameter group's base learning rate by a factor in (0, 1].

    * Warm-up: the factor rises linearly from ``1 / warmup_steps`` to 1 over the first
      ``warmup_steps`` optimiser steps.
    * ``cosine``: afterwards the factor follows ``min_factor + (1 - min_factor) *
      (1 + cos(pi * p)) / 2`` where ``p`` is the training progress in [0, 1] that the
      trainer passes in (the larger of the step fraction and the wall-clock fraction).
    * ``plateau``: the factor is multiplied by ``plateau_factor`` when the validation loss has
      not improved by ``threshold`` (relative) for ``plateau_patience`` epochs, down to
      ``min_factor``.
    * ``constant``: the factor stays 1 after the warm-up.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        kind: ScheduleName = "plateau",
        warmup_steps: int = 0,
        min_factor: float = 0.01,
        plateau_factor: float = 0.5,
        plateau_patience: int = 5,
        threshold: float = 1e-3,
    ) -> None:
        if kind not in ("cosine", "plateau", "constant"):
            raise ValueError(f"unknown schedule {kind!r}; expected 'cosine', 'plateau' or 'constant'")
        if not 0.0 < plateau_factor < 1.0:
            raise ValueError(f"plateau_factor must be in (0, 1), got {plateau_factor}")
        self.optimizer = optimizer
        self.kind = kind
        self.warmup_steps = max(0, int(warmup_steps))
        self.min_factor = float(min_factor)
        self.plateau_factor = float(plateau_factor)
        self.plateau_patience = int(plateau_patience)
        self.threshold = float(threshold)
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.step_count = 0
        self.progress = 0.0
        self.plateau_scale = 1.0
        self.best_loss = math.inf
        self.bad_epochs = 0
        self._apply()

    def factor(self) -> float:
        """Return the current multiplier of the base learning rates."""
        if self.warmup_steps and self.step_count < self.warmup_steps:
            return (self.step_count + 1) / self.warmup_steps
        if self.kind == "cosine":
            progress = min(max(self.progress, 0.0), 1.0)
            return self.min_factor + (1.0 - self.min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))
        if self.kind == "plateau":
            return self.plateau_scale
        return 1.0

    def step(self, progress: float | None = None) -> None:
        """Advance by one optimiser step; ``progress`` in [0, 1] drives the cosine decay."""
        self.step_count += 1
        if progress is not None:
            self.progress = float(progress)
        self._apply()

    def epoch_end(self, validation_loss: float | None) -> None:
        """Update the plateau state with this epoch's validation loss (ignored for other kinds)."""
        if self.kind != "plateau" or validation_loss is None or not math.isfinite(validation_loss):
            return
        if self.step_count < self.warmup_steps:
            return
        if validation_loss < self.best_loss * (1.0 - self.threshold):
            self.best_loss = validation_loss
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs > self.plateau_patience:
                self.plateau_scale = max(self.plateau_scale * self.plateau_factor, self.min_factor)
                self.bad_epochs = 0
        self._apply()

    def _apply(self) -> None:
        factor = self.factor()
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base_lr * factor

    def learning_rate(self) -> float:
        """Return the learning rate of the first parameter group."""
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        """Return the schedule state for a checkpoint."""
        return {
            "kind": self.kind,
            "base_lrs": list(self.base_lrs),
            "step_count": self.step_count,
            "progress": self.progress,
            "plateau_scale": self.plateau_scale,
            "best_loss": self.best_loss,
            "bad_epochs": self.bad_epochs,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state written by :meth:`state_dict`."""
        self.base_lrs = list(state["base_lrs"])
        self.step_count = int(state["step_count"])
        self.progress = float(state["progress"])
        self.plateau_scale = float(state["plateau_scale"])
        self.best_loss = float(state["best_loss"])
        self.bad_epochs = int(state["bad_epochs"])
        self._apply()
