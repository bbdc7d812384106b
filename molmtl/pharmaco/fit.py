"""Fitting a linear :class:`~molmtl.pharmaco.model.DoseModel` from a patient table.

Steps: fit the feature encoder on the table, transform the dose (``sqrt`` by default), choose
the penalty strengths by task-stratified cross-validation (or take fixed ones), refit on all
rows, and calibrate the prediction intervals on the out-of-fold residuals.

NOTE: the encoder (standardisation, imputation medians, allele lists) is fitted once on all
training rows before cross-validation. These statistics do not use the dose, so the
cross-validated error is only slightly optimistic.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from molmtl.pharmaco.encoding import FeatureSpec, TabularEncoder
from molmtl.pharmaco.intervals import ResidualIntervals
from molmtl.pharmaco.linear import MODES, SharedSpecificRidge
from molmtl.pharmaco.metrics import dose_metrics
from molmtl.pharmaco.model import DoseModel
from molmtl.pharmaco.selection import DEFAULT_GRID, select_strengths
from molmtl.pharmaco.table import PatientTable
from molmtl.pharmaco.target import TargetTransform

logger = logging.getLogger(__name__)


@dataclass
class FitOptions:
    """Options of :func:`fit_dose_model`.

    ``mode``: ``multitask`` (shared + specific), ``single_task`` or ``pooled``.
    ``lambda_shared`` / ``lambda_specific``: fixed strengths, or None to cross-validate over
    ``shared_grid`` / ``specific_grid``. ``cv_folds``: folds for the search and for the
    interval residuals. ``target_transform``: ``sqrt`` or ``none``. ``task_intercepts``: only
    for ``pooled`` (default one common intercept). ``min_task_size`` / ``small_tasks``: see
    :class:`~molmtl.pharmaco.linear.SharedSpecificRidge`.
    """

    mode: str = "multitask"
    lambda_shared: float | None = None
    lambda_specific: float | None = None
    shared_grid: list[float] = field(default_factory=lambda: list(DEFAULT_GRID))
    specific_grid: list[float] = field(default_factory=lambda: list(DEFAULT_GRID))
    cv_folds: int = 5
    seed: int = 0
    target_transform: str = "sqrt"
    standardize: bool = True
    task_intercepts: bool | None = None
    min_task_size: int = 2
    small_tasks: str = "error"
    interval_min_residuals: int = 30

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"model mode must be one of {MODES}, got {self.mode!r}")
        if self.cv_folds < 2:
            raise ValueError(f"cv_folds must be at least 2, got {self.cv_folds}")
        TargetTransform(self.target_transform)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> FitOptions:
        """Build options from a config mapping; unknown keys raise ``ValueError``."""
        unknown = set(payload) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown model keys {sorted(unknown)}; allowed keys are {sorted(cls.__dataclass_fields__)}")
        return cls(**payload)

    def make_regressor(self) -> SharedSpecificRidge:
        """Return the unfitted regressor these options describe (strengths 1 when searched)."""
        return SharedSpecificRidge(
            lambda_shared=1.0 if self.lambda_shared is None else self.lambda_shared,
            lambda_specific=1.0 if self.lambda_specific is None else self.lambda_specific,
            mode=self.mode,
            standardize=self.standardize,
            task_intercepts=self.task_intercepts,
            min_task_size=self.min_task_size,
            small_tasks=self.small_tasks,
        )


def fit_linear(
    design: np.ndarray, target: np.ndarray, tasks: np.ndarray, options: FitOptions
) -> tuple[SharedSpecificRidge, np.ndarray, dict[str, Any]]:
    """Select strengths (unless fixed), fit on all rows and return the model, the out-of-fold
    predictions of the fitted target and a summary of the search."""
    regressor = options.make_regressor()
    shared_grid = options.shared_grid if options.lambda_shared is None else [options.lambda_shared]
    specific_grid = options.specific_grid if options.lambda_specific is None else [options.lambda_specific]
    selection = select_strengths(regressor, design, target, tasks, shared_grid, specific_grid, options.cv_folds, options.seed)
    fitted = regressor.with_strengths(selection.lambda_shared, selection.lambda_specific).fit(design, target, tasks)
    summary = {
        "lambda_shared": selection.lambda_shared if options.mode != "single_task" else None,
        "lambda_specific": selection.lambda_specific if options.mode != "pooled" else None,
        "cv_mse": selection.best_mse,
        "cv_folds": options.cv_folds,
        "grid_points": int(len(selection.scores)),
    }
    return fitted, selection.oof_prediction, summary


def fit_dose_model(table: PatientTable, features: FeatureSpec, options: FitOptions | None = None) -> DoseModel:
    """Fit a linear dose model on ``table`` and return it with its training summary in ``info``."""
    options = options or FitOptions()
    encoder = TabularEncoder(features).fit(table.frame)
    design, report = encoder.transform(table.frame)
    logger.info("training features: %s", report.summary())
    transform = TargetTransform(options.target_transform)
    target = transform.forward(table.doses)
    tasks = table.tasks

    regressor, oof, summary = fit_linear(design, target, tasks, options)
    oof_dose = transform.inverse(oof)
    intervals = ResidualIntervals.from_residuals(target - oof, tasks, options.interval_min_residuals)
    cv_metrics = dose_metrics(table.doses, oof_dose, tasks)
    info = {
        "options": asdict(options),
        "selection": summary,
        "task_counts": table.task_counts(),
        "excluded_rows": table.excluded,
        "skipped_tasks": regressor.skipped_tasks_,
        "encoding": report.to_dict(),
        "cv_metrics": cv_metrics.reset_index(names="task").to_dict(orient="records"),
        "dose_unit": table.dose_unit,
        "target_sd": float(np.std(target)),
        "feature_sd": design.std(axis=0).tolist(),
    }
    logger.info("fitted %s model: %s", options.mode, summary)
    return DoseModel(encoder, regressor, transform, table.task_column, table.dose_column, table.id_column, intervals, info)
