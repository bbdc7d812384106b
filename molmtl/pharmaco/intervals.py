"""Prediction intervals from out-of-fold residuals (cross-validation conformal intervals).

The half-width for a task is the conformal quantile of the absolute out-of-fold residuals of
that task, on the fitted-target scale (e.g. sqrt(dose)): the ``ceil((n + 1) * level)``-th
smallest of ``n`` residuals. The interval ``prediction +/- half_width`` is mapped back to dose
units through the inverse target transform, so with a sqrt transform it is asymmetric in
mg/week. Tasks with fewer than ``min_residuals`` residuals use the residuals of all tasks.

NOTE: the residuals come from models refitted on K-1 folds, not from the final model, so the
coverage is approximate (cross-validation conformal prediction guarantees at least
``1 - 2 * (1 - level)`` in theory, and is usually close to ``level`` in practice). The
benchmark reports the measured coverage.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class ResidualIntervals:
    """Per-task sorted absolute residuals and the conformal half-widths they imply."""

    def __init__(self, residuals: dict[str, np.ndarray], pooled: np.ndarray, min_residuals: int = 30) -> None:
        self.residuals = {task: np.sort(np.abs(values)) for task, values in residuals.items()}
        self.pooled = np.sort(np.abs(pooled))
        self.min_residuals = int(min_residuals)

    @classmethod
    def from_residuals(cls, residuals: np.ndarray, tasks: np.ndarray, min_residuals: int = 30) -> ResidualIntervals:
        """Group out-of-fold residuals (target minus prediction) by task."""
        residuals = np.asarray(residuals, dtype=np.float64)
        tasks = np.asarray(tasks).astype(str)
        grouped = {str(task): residuals[tasks == task] for task in np.unique(tasks)}
        return cls(grouped, residuals, min_residuals)

    @staticmethod
    def conformal_quantile(sorted_residuals: np.ndarray, level: float) -> float:
        """Return the ``ceil((n + 1) * level)``-th smallest residual, or inf when n is too small."""
        count = len(sorted_residuals)
        rank = math.ceil((count + 1) * level)
        return float("inf") if rank > count else float(sorted_residuals[rank - 1])

    def half_width(self, tasks: np.ndarray, level: float = 0.9) -> np.ndarray:
        """Return the half-width of the ``level`` interval for each row's task (fitted-target units)."""
        if not 0.0 < level < 1.0:
            raise ValueError(f"interval level must be between 0 and 1, got {level}")
        widths: dict[str, float] = {}
        result = np.empty(len(tasks))
        for row, task in enumerate(np.asarray(tasks).astype(str)):
            if task not in widths:
                values = self.residuals.get(task)
                if values is None or len(values) < self.min_residuals:
                    values = self.pooled
                widths[task] = self.conformal_quantile(values, level)
            result[row] = widths[task]
        return result

    def to_dict(self) -> dict[str, Any]:
        """Return the residuals as JSON-compatible data."""
        return {
            "residuals": {task: values.tolist() for task, values in self.residuals.items()},
            "pooled": self.pooled.tolist(),
            "min_residuals": self.min_residuals,
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> ResidualIntervals:
        """Rebuild from :meth:`to_dict` output."""
        residuals = {task: np.asarray(values, dtype=np.float64) for task, values in payload["residuals"].items()}
        return cls(residuals, np.asarray(payload["pooled"], dtype=np.float64), payload["min_residuals"])
