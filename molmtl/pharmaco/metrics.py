"""Dose prediction metrics, per task and overall.

* ``mae``: mean absolute error in dose units (mg/week for warfarin);
* ``within_20``: percentage of patients whose predicted dose is within 20% of the actual dose,
  i.e. ``|predicted - actual| <= 0.2 * actual``, the usual warfarin figure of merit;
* ``r2``: coefficient of determination of the dose (not of the transformed target), computed
  against the mean of the rows it is evaluated on (per task: that task's mean).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

OVERALL = "overall"


def _scores(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    error = predicted - actual
    total = float(((actual - actual.mean()) ** 2).sum())
    return {
        "n": int(len(actual)),
        "mae": float(np.abs(error).mean()),
        "within_20": float(100.0 * (np.abs(error) <= 0.2 * actual).mean()),
        "r2": float(1.0 - (error**2).sum() / total) if total > 0 else float("nan"),
    }


def dose_metrics(actual: np.ndarray, predicted: np.ndarray, tasks: np.ndarray) -> pd.DataFrame:
    """Return a frame indexed by task (plus ``overall``) with ``n``, ``mae``, ``within_20``, ``r2``.

    Rows whose prediction is NaN raise ``ValueError``: every patient must be scored, so a model
    that cannot predict some patients has to say so before evaluation.
    """
    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    tasks = np.asarray(tasks).astype(str)
    if not (actual.shape == predicted.shape == tasks.shape):
        raise ValueError(f"shapes differ: actual {actual.shape}, predicted {predicted.shape}, tasks {tasks.shape}")
    if not np.isfinite(actual).all():
        raise ValueError("actual doses contain NaN; evaluate only rows with a known dose")
    if not np.isfinite(predicted).all():
        raise ValueError(f"{int((~np.isfinite(predicted)).sum())} predicted doses are NaN or infinite")
    rows = {str(task): _scores(actual[tasks == task], predicted[tasks == task]) for task in pd.unique(tasks)}
    rows[OVERALL] = _scores(actual, predicted)
    return pd.DataFrame.from_dict(rows, orient="index")
