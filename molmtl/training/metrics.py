"""Per-task metric accumulation over an epoch, reduced across ranks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from molmtl.training import distributed
from molmtl.training.task import TaskOutput

#: Column fields per task and split, in the order they appear in ``metrics.csv``.
TASK_FIELDS = ("loss", "mae", "rmse", "count")


class EpochMetrics:
    """Sum label-weighted losses, absolute and squared errors and label counts of every task.

    The epoch loss of a task is the label-weighted mean of its batch losses, so batches with
    more labels count more. Sums are kept in float64 on the CPU.
    """

    def __init__(self, task_names: Sequence[str]) -> None:
        self.task_names = list(task_names)
        size = len(self.task_names)
        self.sums = torch.zeros(4, size, dtype=torch.float64)  # loss*count, count, |e|, e^2
        self.total_loss = torch.zeros(2, dtype=torch.float64)  # sum of batch totals, batches

    def add(self, outputs: Mapping[str, TaskOutput], total_loss: float | None = None) -> None:
        """Add one batch's task outputs (and its combined training loss)."""
        for index, name in enumerate(self.task_names):
            output = outputs[name]
            count = float(output.count.detach())
            self.sums[0, index] += float(output.loss.detach()) * count
            self.sums[1, index] += count
            self.sums[2, index] += float(output.abs_error_sum.detach())
            self.sums[3, index] += float(output.squared_error_sum.detach())
        if total_loss is not None:
            self.total_loss[0] += float(total_loss)
            self.total_loss[1] += 1

    def reduce(self) -> None:
        """Sum the accumulated values over ranks (every rank must call this)."""
        distributed.all_reduce_sum(self.sums)
        distributed.all_reduce_sum(self.total_loss)

    def task_values(self, name: str) -> dict[str, float]:
        """Return ``loss``, ``mae``, ``rmse`` and ``count`` of one task (NaN where nothing was labelled)."""
        index = self.task_names.index(name)
        loss_sum, count, abs_sum, squared_sum = (float(value) for value in self.sums[:, index])
        if count <= 0:
            return {"loss": math.nan, "mae": math.nan, "rmse": math.nan, "count": 0.0}
        return {
            "loss": loss_sum / count,
            "mae": abs_sum / count,
            "rmse": math.sqrt(squared_sum / count),
            "count": count,
        }

    def mean_total_loss(self) -> float:
        """Return the mean combined training loss per batch (NaN when no batch was added)."""
        total, batches = (float(value) for value in self.total_loss)
        return total / batches if batches else math.nan

    def weighted_loss(self, weights: Mapping[str, float]) -> float:
        """Return ``sum_t weights[t] * loss_t`` over tasks with a positive weight and labels."""
        value = 0.0
        for name in self.task_names:
            weight = weights.get(name, 0.0)
            loss = self.task_values(name)["loss"]
            if weight > 0 and not math.isnan(loss):
                value += weight * loss
        return value

    def as_row(self, prefix: str) -> dict[str, float]:
        """Return ``{prefix}_{task}_{field}`` entries for every task."""
        row: dict[str, float] = {}
        for name in self.task_names:
            for field, value in self.task_values(name).items():
                row[f"{prefix}_{name}_{field}"] = value
        return row
