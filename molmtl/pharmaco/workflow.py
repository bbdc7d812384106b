"""End-to-end steps behind ``molmtl pharmaco``: train from a config, evaluate, predict, explain."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molmtl.atomic_io import atomic_path, atomic_write_text
from molmtl.pharmaco.config import DataConfig, PharmacoConfig, load_table
from molmtl.pharmaco.model import DoseModel
from molmtl.pharmaco.table import PatientTable

logger = logging.getLogger(__name__)

MODEL_FILE = "model.json"


def write_csv(frame: pd.DataFrame, path: str | Path, index: bool = False) -> None:
    """Write ``frame`` as CSV atomically."""
    atomic_write_text(frame.to_csv(index=index), path)


def train(config: PharmacoConfig, progress: bool = True) -> tuple[DoseModel, dict[str, Path]]:
    """Fit the model the config describes and write its files into the output folder.

    Returns the model and the written paths: ``model`` (model.json), ``cv_metrics``
    (cross-validated or validation metrics per task) and, for linear models with
    ``bootstrap > 0``, ``coefficients`` (CSV) and ``coefficients_plot`` (PNG).
    """
    table = load_table(config.data)
    logger.info("training table: %s", table.summary())
    options = dict(config.model)
    kind = options.pop("kind", "linear")
    options.setdefault("seed", config.seed)
    if kind == "linear":
        from molmtl.pharmaco.fit import FitOptions, fit_dose_model

        model = fit_dose_model(table, config.features, FitOptions.from_dict(options))
    elif kind == "torch":
        from molmtl.pharmaco.torch_model import TorchOptions, fit_torch_dose_model

        model = fit_torch_dose_model(table, config.features, TorchOptions.from_dict(options), run_dir=Path(config.output_directory) / "torch_run")
    else:
        raise ValueError(f"model.kind must be 'linear' or 'torch', got {kind!r}")

    directory = Path(config.output_directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.info["data"] = config.data.to_dict()
    model.info["interval_level"] = config.interval_level
    paths: dict[str, Path] = {"model": directory / MODEL_FILE, "cv_metrics": directory / "cv_metrics.csv"}
    write_csv(pd.DataFrame(model.info["cv_metrics"]), paths["cv_metrics"])

    if kind == "linear" and config.bootstrap > 0:
        from molmtl.pharmaco.interpret import coefficient_table, plot_coefficients

        coefficients = coefficient_table(model, table, n_bootstrap=config.bootstrap, seed=config.seed, progress=progress)
        model.info["coefficients"] = coefficients.to_dict(orient="records")
        model.info["coefficients_attrs"] = dict(coefficients.attrs)
        paths["coefficients"] = directory / "coefficients.csv"
        paths["coefficients_plot"] = directory / "coefficients.png"
        write_csv(coefficients, paths["coefficients"])
        plot_coefficients(coefficients, str(paths["coefficients_plot"]), title=f"{model.regressor.mode} model")
    model.save(paths["model"])
    return model, paths


def data_config_of(model: DoseModel, data_format: str = "auto") -> DataConfig:
    """Return the data settings the model was trained with, optionally with another format.

    ``auto`` keeps the training format (an IWPC-trained model reads IWPC tables). ``csv``
    reads a plain CSV with the model's task, dose and id column names.
    """
    stored = dict(model.info.get("data") or {})
    if data_format == "auto" and stored:
        return DataConfig(**stored)
    if data_format in ("auto", "csv"):
        return DataConfig(path="", format="csv", task_column=model.task_column, dose_column=model.dose_column, id_column=model.id_column)
    if data_format == "iwpc":
        return DataConfig(path="", format="iwpc", **{key: stored[key] for key in ("tasks", "other_race", "stable_only", "impute_vkorc1") if key in stored})
    raise ValueError(f"unknown data format {data_format!r}; expected auto, csv or iwpc")


def read_for_model(model: DoseModel, path: str | Path, data_format: str = "auto", require_dose: bool = True) -> PatientTable:
    """Read ``path`` the way the model's training table was read.

    For prediction (``require_dose=False``) every task label is kept, also labels the model
    was not trained on, so that they can be predicted from the shared part or reported.
    """
    data = data_config_of(model, data_format)
    if not require_dose:
        data.tasks = None
        if data.format == "iwpc":
            data.other_race = "task"
    return load_table(data, path=path, require_dose=require_dose)


def evaluate(model: DoseModel, table: PatientTable, unknown_tasks: str = "error") -> tuple[pd.DataFrame, np.ndarray]:
    """Return the metrics table and the predicted doses of ``table``."""
    predicted, _, report = model.predict_target(table.frame, unknown_tasks=unknown_tasks)
    doses = model.target.inverse(predicted)
    from molmtl.pharmaco.metrics import dose_metrics

    logger.info(report.summary())
    return dose_metrics(table.doses, doses, table.tasks), doses


def plot_parity(actual: np.ndarray, predicted: np.ndarray, tasks: np.ndarray, path: str | Path, unit: str = "mg/week") -> None:
    """Draw predicted against actual dose, one colour per task, with the +/-20% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.5, 5))
    for task in pd.unique(tasks):
        rows = tasks == task
        axis.scatter(actual[rows], predicted[rows], s=6, alpha=0.5, label=f"{task} (n={int(rows.sum())})")
    top = float(max(actual.max(), predicted.max())) * 1.05
    line = np.array([0.0, top])
    axis.plot(line, line, color="black", linewidth=0.8)
    axis.fill_between(line, 0.8 * line, 1.2 * line, color="grey", alpha=0.15, label="within 20%")
    axis.set_xlim(0, top)
    axis.set_ylim(0, top)
    axis.set_xlabel(f"actual dose ({unit})")
    axis.set_ylabel(f"predicted dose ({unit})")
    axis.legend(fontsize=7, markerscale=2)
    figure.tight_layout()
    with atomic_path(path, suffix=Path(path).suffix or ".png") as temporary:
        figure.savefig(temporary)
    plt.close(figure)


def stored_coefficients(model: DoseModel) -> pd.DataFrame:
    """Return the coefficient table stored at training time, or raise if there is none."""
    records = model.info.get("coefficients")
    if not records:
        raise ValueError(
            "this model file has no coefficient table (trained with bootstrap: 0, or a torch model); "
            "pass --data TRAINING.csv to compute one"
        )
    frame = pd.DataFrame.from_records(records)
    frame.attrs.update(model.info.get("coefficients_attrs") or {})
    return frame


def explain(model: DoseModel, table: PatientTable | None = None, bootstrap: int = 200, seed: int = 0) -> pd.DataFrame:
    """Return the coefficient table: recomputed on ``table`` when given, else the stored one."""
    if table is None:
        return stored_coefficients(model)
    from molmtl.pharmaco.interpret import coefficient_table

    return coefficient_table(model, table, n_bootstrap=bootstrap, seed=seed)


def describe(model: DoseModel) -> dict[str, Any]:
    """Return a short summary of a model (kind, mode, tasks, strengths, features)."""
    params = model.regressor.to_dict().get("params", {})
    return {
        "kind": model.kind,
        "mode": params.get("mode", "torch"),
        "tasks": model.tasks,
        "features": len(model.encoder.feature_names),
        "selection": model.info.get("selection"),
    }
