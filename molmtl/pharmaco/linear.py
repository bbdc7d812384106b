"""Regularised multi-task linear regression with shared and task-specific coefficients.

For task ``t`` with design rows ``X_t`` and targets ``y_t`` the model is

    y_t = X_t (w + v_t) + b_t,

fitted by minimising (Evgeniou and Pontil, "Regularized multi-task learning", KDD 2004)

    sum_t ||y_t - X_t (w + v_t) - b_t||^2 + lambda_shared ||w||^2 + lambda_specific sum_t ||v_t||^2.

``w`` is shared by all tasks, ``v_t`` is the deviation of task ``t`` and the intercepts ``b_t``
are not penalised. The problem is a ridge regression on an augmented design ``[X, blockdiag(X_t)]``
and has a closed form: minimising over ``b_t`` centres ``X_t`` and ``y_t`` within each task, and
the normal equations in ``(w, v_1 .. v_T)`` are solved with :func:`scipy.linalg.solve`.

How the fit splits a task's coefficients ``beta_t = w + v_t``: for fixed ``beta_t`` the penalty
is smallest at ``w = T * lambda_specific / (lambda_shared + T * lambda_specific) * mean_t(beta_t)``.
So ``w`` is the (shrunken) average effect over tasks and ``v_t`` is each task's deviation
from it, and a large ``lambda_specific`` pulls all tasks towards one common model.

Limits of the two strengths give the baselines in the same class:

* ``mode="single_task"``: ``lambda_shared -> inf`` (``w = 0``), one ridge model per task;
* ``mode="pooled"``: ``lambda_specific -> inf`` (``v_t = 0``), one ridge model for all tasks,
  with one common intercept (``task_intercepts=False``, default) or one per task.

With ``standardize=True`` (default) the columns are divided by their pooled training standard
deviation before fitting, so both penalties treat all features alike. Coefficients are always
reported per unit of the unscaled design columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg

MODES = ("multitask", "single_task", "pooled")


@dataclass
class GramStatistics:
    """Within-task centred Gram matrices of one training set, reused across penalty strengths.

    ``gram[t] = Xc_t^T Xc_t`` and ``moment[t] = Xc_t^T yc_t`` in the scaled columns, where
    ``Xc_t`` and ``yc_t`` are centred on the task means (or on the global mean when the model
    has a single intercept).
    """

    tasks: list[str]
    scale: np.ndarray
    x_means: np.ndarray
    y_means: np.ndarray
    gram: np.ndarray
    moment: np.ndarray
    counts: np.ndarray


def task_indices(tasks: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Map task labels to positions in ``names``; -1 for labels not in ``names``."""
    lookup = {name: position for position, name in enumerate(names)}
    return np.array([lookup.get(str(task), -1) for task in tasks], dtype=np.int64)


def check_design(design: np.ndarray, target: np.ndarray | None, tasks: np.ndarray) -> None:
    """Raise ``ValueError`` for mismatched lengths or non-finite values."""
    if design.ndim != 2:
        raise ValueError(f"design matrix must be 2-D, got shape {design.shape}")
    if len(tasks) != design.shape[0]:
        raise ValueError(f"{design.shape[0]} design rows but {len(tasks)} task labels")
    if not np.isfinite(design).all():
        raise ValueError("design matrix contains NaN or infinite values; encode the table with TabularEncoder, which imputes them")
    if target is not None:
        if target.shape != (design.shape[0],):
            raise ValueError(f"target must have shape ({design.shape[0]},), got {target.shape}")
        if not np.isfinite(target).all():
            raise ValueError("target contains NaN or infinite values")


class SharedSpecificRidge:
    """The shared-plus-specific linear model, fitted in closed form.

    ``lambda_shared`` and ``lambda_specific`` are penalties on the sum of squared errors (so
    they scale with the number of patients). ``min_task_size``: tasks with fewer training
    rows raise ``ValueError`` unless ``small_tasks="shared"``, in which case their rows are
    left out of the fit and the task is predicted like an unseen task (see :meth:`predict`).

    Fitted attributes: ``tasks_`` (names), ``coef_shared_`` ``[p]``, ``coef_specific_`` ``[T, p]``,
    ``intercepts_`` ``[T]``, ``task_counts_`` ``[T]`` and ``skipped_tasks_`` (name -> rows).
    """

    def __init__(
        self,
        lambda_shared: float = 1.0,
        lambda_specific: float = 1.0,
        mode: str = "multitask",
        standardize: bool = True,
        task_intercepts: bool | None = None,
        min_task_size: int = 2,
        small_tasks: str = "error",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if small_tasks not in ("error", "shared"):
            raise ValueError(f"small_tasks must be 'error' or 'shared', got {small_tasks!r}")
        if task_intercepts is False and mode != "pooled":
            raise ValueError("task_intercepts=False is only meaningful for mode='pooled'")
        self.lambda_shared = float(lambda_shared)
        self.lambda_specific = float(lambda_specific)
        self.mode = mode
        self.standardize = bool(standardize)
        self.task_intercepts = (mode != "pooled") if task_intercepts is None else bool(task_intercepts)
        self.min_task_size = int(min_task_size)
        self.small_tasks = small_tasks
        self.skipped_tasks_: dict[str, int] = {}
        self._check_strengths()

    def _check_strengths(self) -> None:
        for name, value, used in (
            ("lambda_shared", self.lambda_shared, self.mode != "single_task"),
            ("lambda_specific", self.lambda_specific, self.mode != "pooled"),
        ):
            if used and not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value}")

    def get_params(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "lambda_shared": self.lambda_shared,
            "lambda_specific": self.lambda_specific,
            "mode": self.mode,
            "standardize": self.standardize,
            "task_intercepts": self.task_intercepts,
            "min_task_size": self.min_task_size,
            "small_tasks": self.small_tasks,
        }

    def with_strengths(self, lambda_shared: float, lambda_specific: float) -> SharedSpecificRidge:
        """Return an unfitted copy with other penalty strengths."""
        return SharedSpecificRidge(**{**self.get_params(), "lambda_shared": lambda_shared, "lambda_specific": lambda_specific})

    # -- fitting ----------------------------------------------------------------------------

    def usable_tasks(self, tasks: np.ndarray) -> tuple[list[str], dict[str, int]]:
        """Return the tasks large enough to fit and the skipped ones (name -> rows); raise per ``small_tasks``."""
        names, counts = np.unique(tasks.astype(str), return_counts=True)
        small = {str(name): int(count) for name, count in zip(names, counts) if count < self.min_task_size}
        if small and self.small_tasks == "error":
            raise ValueError(
                f"tasks {small} have fewer than min_task_size={self.min_task_size} training rows, too few to "
                "fit a task intercept. Merge them into another task, remove them, or set small_tasks: shared "
                "to predict them from the shared coefficients only."
            )
        usable = [str(name) for name in names if str(name) not in small]
        if not usable:
            raise ValueError(f"no task has at least min_task_size={self.min_task_size} rows")
        return usable, small

    def gram_statistics(self, design: np.ndarray, target: np.ndarray, tasks: np.ndarray) -> GramStatistics:
        """Compute the centred per-task Gram matrices used by :meth:`solve`."""
        check_design(design, target, tasks)
        usable, small = self.usable_tasks(np.asarray(tasks))
        self.skipped_tasks_ = small
        index = task_indices(np.asarray(tasks), usable)
        keep = index >= 0
        design, target, index = design[keep], target[keep], index[keep]

        scale = design.std(axis=0) if self.standardize else np.ones(design.shape[1])
        scale = np.where(scale > 0, scale, 1.0)
        scaled = design / scale
        count = len(usable)
        x_means = np.zeros((count, design.shape[1]))
        y_means = np.zeros(count)
        if not self.task_intercepts:
            x_means[:] = scaled.mean(axis=0)
            y_means[:] = target.mean()
        gram = np.zeros((count, design.shape[1], design.shape[1]))
        moment = np.zeros((count, design.shape[1]))
        counts = np.zeros(count, dtype=np.int64)
        for task in range(count):
            rows = index == task
            counts[task] = int(rows.sum())
            if self.task_intercepts:
                x_means[task] = scaled[rows].mean(axis=0)
                y_means[task] = target[rows].mean()
            centred = scaled[rows] - x_means[task]
            gram[task] = centred.T @ centred
            moment[task] = centred.T @ (target[rows] - y_means[task])
        return GramStatistics(usable, scale, x_means, y_means, gram, moment, counts)

    def solve(self, stats: GramStatistics) -> SharedSpecificRidge:
        """Solve the normal equations for the current strengths and set the fitted attributes."""
        count, features = stats.moment.shape
        identity = np.eye(features)
        shared = np.zeros(features)
        specific = np.zeros((count, features))
        if self.mode == "pooled":
            shared = scipy.linalg.solve(stats.gram.sum(axis=0) + self.lambda_shared * identity, stats.moment.sum(axis=0), assume_a="pos")
        elif self.mode == "single_task":
            for task in range(count):
                specific[task] = scipy.linalg.solve(stats.gram[task] + self.lambda_specific * identity, stats.moment[task], assume_a="pos")
        else:
            size = features * (count + 1)
            system = np.zeros((size, size))
            rhs = np.zeros(size)
            system[:features, :features] = stats.gram.sum(axis=0) + self.lambda_shared * identity
            rhs[:features] = stats.moment.sum(axis=0)
            for task in range(count):
                block = slice(features * (task + 1), features * (task + 2))
                system[:features, block] = stats.gram[task]
                system[block, :features] = stats.gram[task]
                system[block, block] = stats.gram[task] + self.lambda_specific * identity
                rhs[block] = stats.moment[task]
            solution = scipy.linalg.solve(system, rhs, assume_a="pos")
            shared = solution[:features]
            specific = solution[features:].reshape(count, features)

        self.tasks_ = list(stats.tasks)
        self.task_counts_ = stats.counts.copy()
        self.coef_shared_ = shared / stats.scale
        self.coef_specific_ = specific / stats.scale
        total_scaled = shared[None, :] + specific
        self.intercepts_ = stats.y_means - np.einsum("tf,tf->t", stats.x_means, total_scaled)
        return self

    def fit(self, design: np.ndarray, target: np.ndarray, tasks: np.ndarray) -> SharedSpecificRidge:
        """Fit on ``design`` ``[n, p]``, ``target`` ``[n]`` and task labels ``[n]``."""
        design = np.asarray(design, dtype=np.float64)
        target = np.asarray(target, dtype=np.float64)
        return self.solve(self.gram_statistics(design, target, np.asarray(tasks)))

    # -- prediction -------------------------------------------------------------------------

    @property
    def fallback_intercept(self) -> float:
        """Intercept for tasks without specific parameters: the row-weighted mean of ``intercepts_``."""
        return float(np.average(self.intercepts_, weights=self.task_counts_))

    def predict(self, design: np.ndarray, tasks: np.ndarray, unknown_tasks: str = "error") -> np.ndarray:
        """Predict the target for each row of ``design`` with its task's coefficients.

        A task not fitted (unseen, or skipped under ``small_tasks="shared"``) raises
        ``ValueError`` unless ``unknown_tasks="shared"``, which predicts it with the shared
        coefficients ``w`` and :attr:`fallback_intercept`. Single-task models have no shared
        coefficients and always raise for such tasks.
        """
        if not hasattr(self, "coef_shared_"):
            raise RuntimeError("the model is not fitted; call fit() first")
        design = np.asarray(design, dtype=np.float64)
        check_design(design, None, np.asarray(tasks))
        if design.shape[1] != self.coef_shared_.shape[0]:
            raise ValueError(f"design has {design.shape[1]} columns but the model was fitted on {self.coef_shared_.shape[0]}")
        index = task_indices(np.asarray(tasks), self.tasks_)
        unknown = index < 0
        if unknown.any():
            names = sorted({str(task) for task in np.asarray(tasks)[unknown]})
            if self.mode == "single_task" or unknown_tasks != "shared":
                raise ValueError(
                    f"tasks {names} were not fitted (fitted tasks: {self.tasks_}). "
                    + ("Single-task models cannot predict them." if self.mode == "single_task" else "Pass unknown_tasks='shared' to predict them from the shared coefficients.")
                )
        prediction = design @ self.coef_shared_ + self.fallback_intercept
        known = ~unknown
        coefficients = self.coef_specific_[index[known]]
        prediction[known] = np.einsum("nf,nf->n", design[known], coefficients) + design[known] @ self.coef_shared_ + self.intercepts_[index[known]]
        return prediction

    def task_coefficients(self) -> np.ndarray:
        """Return ``w + v_t`` for every fitted task, shape ``[T, p]``."""
        return self.coef_shared_[None, :] + self.coef_specific_

    # -- serialisation ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return parameters and fitted coefficients as JSON-compatible data."""
        return {
            "params": self.get_params(),
            "tasks": self.tasks_,
            "task_counts": self.task_counts_.tolist(),
            "coef_shared": self.coef_shared_.tolist(),
            "coef_specific": self.coef_specific_.tolist(),
            "intercepts": self.intercepts_.tolist(),
            "skipped_tasks": self.skipped_tasks_,
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> SharedSpecificRidge:
        """Rebuild a fitted model written by :meth:`to_dict`."""
        model = cls(**payload["params"])
        model.tasks_ = [str(task) for task in payload["tasks"]]
        model.task_counts_ = np.asarray(payload["task_counts"], dtype=np.int64)
        model.coef_shared_ = np.asarray(payload["coef_shared"], dtype=np.float64)
        model.coef_specific_ = np.asarray(payload["coef_specific"], dtype=np.float64).reshape(len(model.tasks_), -1)
        model.intercepts_ = np.asarray(payload["intercepts"], dtype=np.float64)
        model.skipped_tasks_ = {str(name): int(count) for name, count in payload["skipped_tasks"].items()}
        return model
