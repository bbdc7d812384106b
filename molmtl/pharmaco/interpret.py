"""Coefficient table with bootstrap confidence intervals, and a forest plot.

For every encoded feature the table lists the shared coefficient ``w``, each task's deviation
``v_t`` and each task's total effect ``w + v_t``. Intervals are percentile bootstrap intervals:
patients are resampled with replacement within each task (so task sizes stay fixed) and the
model is refitted with the chosen penalty strengths, which are not re-selected per resample.

Units: ``coefficient`` is the change of the fitted target (sqrt(mg/week) with the sqrt
transform) per unit of the encoded feature: per standard deviation for numeric covariates,
per allele for genotypes, 0 -> 1 for one-hot levels, flags and missing indicators.
``standardized`` is ``coefficient * sd(feature) / sd(target)``, both standard deviations over
all training rows, so effects of different features are on one scale.
``raw_unit_coefficient`` is the effect per raw unit (per year, kg, ...) of numeric covariates.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from tqdm import tqdm

from molmtl.pharmaco.linear import SharedSpecificRidge
from molmtl.pharmaco.model import DoseModel
from molmtl.pharmaco.table import PatientTable

logger = logging.getLogger(__name__)

TERMS = ("shared", "specific", "total")


def _stacked_coefficients(regressor: SharedSpecificRidge) -> np.ndarray:
    """Return ``[1 + 2T, p]``: w, then v_t for each task, then w + v_t for each task."""
    return np.concatenate([regressor.coef_shared_[None, :], regressor.coef_specific_, regressor.task_coefficients()], axis=0)


def _row_labels(tasks: list[str]) -> list[tuple[str, str]]:
    return [("shared", "")] + [("specific", task) for task in tasks] + [("total", task) for task in tasks]


def bootstrap_coefficients(
    model: DoseModel, table: PatientTable, n_bootstrap: int = 200, seed: int = 0, progress: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Refit the linear model on task-stratified bootstrap resamples of ``table``.

    Returns the stacked coefficient samples ``[B, 1 + 2T, p]`` (see :func:`_stacked_coefficients`),
    the design matrix and the fitted target of ``table``.
    """
    if not isinstance(model.regressor, SharedSpecificRidge):
        raise TypeError("bootstrap coefficient tables exist only for the linear models (shared-plus-specific, single-task, pooled)")
    if n_bootstrap < 20:
        raise ValueError(f"n_bootstrap must be at least 20 for percentile intervals, got {n_bootstrap}")
    design, _ = model.design(table.frame)
    target = model.target.forward(table.doses)
    tasks = table.tasks
    regressor = model.regressor
    rows_by_task = [np.flatnonzero(tasks == task) for task in regressor.tasks_]
    rng = np.random.default_rng(seed)
    samples = np.empty((n_bootstrap, 1 + 2 * len(regressor.tasks_), design.shape[1]))
    for sample in tqdm(range(n_bootstrap), desc="bootstrap", disable=not progress, leave=False):
        rows = np.concatenate([rng.choice(task_rows, size=len(task_rows), replace=True) for task_rows in rows_by_task])
        refit = regressor.with_strengths(regressor.lambda_shared, regressor.lambda_specific).fit(design[rows], target[rows], tasks[rows])
        samples[sample] = _stacked_coefficients(refit)
    return samples, design, target


def coefficient_table(
    model: DoseModel, table: PatientTable, n_bootstrap: int = 200, level: float = 0.95, seed: int = 0, progress: bool = True
) -> pd.DataFrame:
    """Return the coefficient table (one row per feature and term) with bootstrap intervals.

    Columns: ``feature``, ``source``, ``kind``, ``term`` (shared, specific, total), ``task``,
    ``coefficient``, ``ci_low``, ``ci_high``, ``standardized``, ``std_ci_low``, ``std_ci_high``,
    ``raw_unit_coefficient`` and ``ci_excludes_zero``. Terms that a baseline does not have are
    left out (no specific terms for the pooled model, no shared term for single-task models).
    """
    samples, design, target = bootstrap_coefficients(model, table, n_bootstrap, seed, progress)
    regressor = model.regressor
    point = _stacked_coefficients(regressor)
    tail = 100.0 * (1.0 - level) / 2.0
    low = np.percentile(samples, tail, axis=0)
    high = np.percentile(samples, 100.0 - tail, axis=0)
    feature_sd = design.std(axis=0)
    target_sd = float(target.std())
    scales = model.encoder.numeric_scales()

    records = []
    for row, (term, task) in enumerate(_row_labels(regressor.tasks_)):
        if (regressor.mode == "pooled" and term != "shared") or (regressor.mode == "single_task" and term != "total"):
            continue
        for column, (name, (source, kind)) in enumerate(zip(model.encoder.feature_names, model.encoder.feature_sources)):
            factor = feature_sd[column] / target_sd
            raw_scale = scales.get(name) if kind == "numeric" and name == source else None
            records.append(
                {
                    "feature": name,
                    "source": source,
                    "kind": kind,
                    "term": term,
                    "task": task,
                    "coefficient": point[row, column],
                    "ci_low": low[row, column],
                    "ci_high": high[row, column],
                    "standardized": point[row, column] * factor,
                    "std_ci_low": low[row, column] * factor,
                    "std_ci_high": high[row, column] * factor,
                    "raw_unit_coefficient": point[row, column] / raw_scale if raw_scale else np.nan,
                    "ci_excludes_zero": bool(low[row, column] > 0 or high[row, column] < 0),
                }
            )
    frame = pd.DataFrame.from_records(records)
    frame.attrs.update({"n_bootstrap": n_bootstrap, "level": level, "target": model.target.unit_label})
    return frame


def plot_coefficients(table: pd.DataFrame, path: str, top: int = 25, title: str | None = None) -> None:
    """Draw a forest plot of standardised effects: shared (black) and each task's total (colour).

    The ``top`` features with the largest absolute effect in any term are shown, with their
    bootstrap intervals. The figure is written to ``path`` (format from the suffix).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from molmtl.atomic_io import atomic_path

    strength = table.groupby("feature")["standardized"].apply(lambda values: values.abs().max())
    features = list(strength.sort_values(ascending=False).index[:top])[::-1]
    position = {feature: index for index, feature in enumerate(features)}
    series = [("shared", "", "black")]
    colours = plt.get_cmap("tab10")
    tasks = [task for task in table.loc[table["term"] == "total", "task"].unique()]
    series += [("total", task, colours(index % 10)) for index, task in enumerate(tasks)]
    offset_step = 0.8 / max(len(series), 1)

    figure, axis = plt.subplots(figsize=(8, 0.35 * len(features) + 1.5))
    for number, (term, task, colour) in enumerate(series):
        rows = table[(table["term"] == term) & (table["task"] == task) & table["feature"].isin(features)]
        if rows.empty:
            continue
        y = rows["feature"].map(position).to_numpy() + (number - (len(series) - 1) / 2) * offset_step
        error = np.vstack([rows["standardized"] - rows["std_ci_low"], rows["std_ci_high"] - rows["standardized"]])
        label = "shared (w)" if term == "shared" else f"{task} (w + v)"
        axis.errorbar(rows["standardized"], y, xerr=np.clip(error, 0, None), fmt="o", color=colour, markersize=4, capsize=2, label=label)
    axis.axvline(0.0, color="grey", linewidth=0.8)
    axis.set_yticks(range(len(features)))
    axis.set_yticklabels(features, fontsize=8)
    level = table.attrs.get("level", 0.95)
    axis.set_xlabel(f"standardised effect on {table.attrs.get('target', 'target')} ({100 * level:.0f}% bootstrap interval)")
    if title:
        axis.set_title(title)
    axis.legend(fontsize=8, loc="best")
    figure.tight_layout()
    suffix = "." + str(path).rsplit(".", 1)[-1] if "." in str(path) else ".png"
    with atomic_path(path, suffix=suffix) as temporary:
        figure.savefig(temporary)
    plt.close(figure)
