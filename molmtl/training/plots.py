"""Learning-curve and parity plots (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _series(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    epochs, values = [], []
    for row in rows:
        value = row.get(key, "")
        if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
            epochs.append(row["epoch"])
            values.append(value)
    return np.asarray(epochs), np.asarray(values)


def plot_learning_curves(
    rows: Sequence[Mapping[str, Any]], task_names: Sequence[str], folder: Path
) -> list[Path]:
    """Write ``learning_curve_<task>.png`` for each task: loss and MAE per epoch, train and validation.

    Values that are missing, zero or not finite are left out because the axes are logarithmic.
    """
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in task_names:
        figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        for axis, field in zip(axes, ("loss", "mae")):
            for split, style in (("train", "-"), ("valid", "--")):
                epochs, values = _series(rows, f"{split}_{name}_{field}")
                if len(values):
                    axis.plot(epochs, values, style, marker="o", markersize=3, label=split)
            axis.set_xlabel("epoch")
            axis.set_ylabel(field.upper() if field == "mae" else "loss")
            axis.set_yscale("log")
            axis.grid(True, which="both", alpha=0.3)
            if axis.get_legend_handles_labels()[0]:
                axis.legend()
        figure.suptitle(f"task {name}")
        figure.tight_layout()
        path = folder / f"learning_curve_{name}.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        paths.append(path)
    return paths


def plot_parity(reference: np.ndarray, predicted: np.ndarray, title: str, unit: str, path: Path) -> Path:
    """Write a parity plot of ``predicted`` against ``reference`` with MAE and RMSE in the legend."""
    plt = _pyplot()
    reference = np.asarray(reference, dtype=float).ravel()
    predicted = np.asarray(predicted, dtype=float).ravel()
    error = predicted - reference
    mae = float(np.mean(np.abs(error))) if error.size else math.nan
    rmse = float(np.sqrt(np.mean(error**2))) if error.size else math.nan
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    axis.scatter(reference, predicted, s=4, alpha=0.5, label=f"MAE {mae:.4g}\nRMSE {rmse:.4g}")
    if reference.size:
        low = float(min(reference.min(), predicted.min()))
        high = float(max(reference.max(), predicted.max()))
        axis.plot([low, high], [low, high], "k-", linewidth=0.8)
    axis.set_xlabel(f"reference [{unit}]")
    axis.set_ylabel(f"predicted [{unit}]")
    axis.set_title(title)
    axis.legend(loc="upper left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
