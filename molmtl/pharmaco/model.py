"""The deployable dose model: feature encoder, regressor, target transform and intervals.

A :class:`DoseModel` turns a patient table into predicted doses (in the unit of the training
dose column, mg/week for warfarin) with an uncertainty interval. It is saved as one JSON file
(written atomically) that contains the encoder state, the coefficients, the out-of-fold residuals
for the intervals and the training summary, so a model can be read without unpickling code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from molmtl.atomic_io import atomic_write_text
from molmtl.pharmaco.encoding import EncodingReport, TabularEncoder
from molmtl.pharmaco.intervals import ResidualIntervals
from molmtl.pharmaco.linear import SharedSpecificRidge, task_indices
from molmtl.pharmaco.metrics import dose_metrics
from molmtl.pharmaco.table import PatientTable
from molmtl.pharmaco.target import TargetTransform

FORMAT = "molmtl.pharmaco.dose_model"
FORMAT_VERSION = 1


class Regressor(Protocol):
    """Interface that :class:`DoseModel` requires from its regressor."""

    tasks_: list[str]

    def predict(self, design: np.ndarray, tasks: np.ndarray, unknown_tasks: str = "error") -> np.ndarray: ...

    def to_dict(self) -> dict[str, Any]: ...


def regressor_from_dict(kind: str, payload: dict[str, Any]) -> Regressor:
    """Rebuild a regressor of ``kind`` (``linear`` or ``torch``) from its saved state."""
    if kind == "linear":
        return SharedSpecificRidge.from_dict(payload)
    if kind == "torch":
        from molmtl.pharmaco.torch_model import TorchDoseRegressor

        return TorchDoseRegressor.from_dict(payload)
    raise ValueError(f"unknown regressor kind {kind!r} in the model file")


class DoseModel:
    """A fitted encoder + regressor pair that predicts doses for patient tables.

    ``info`` contains the training summary (penalty strengths, cross-validation error, task
    counts, exclusions, imputation counts) and, when computed, the coefficient table.
    """

    def __init__(
        self,
        encoder: TabularEncoder,
        regressor: Regressor,
        target: TargetTransform,
        task_column: str,
        dose_column: str,
        id_column: str | None = None,
        intervals: ResidualIntervals | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.encoder = encoder
        self.regressor = regressor
        self.target = target
        self.task_column = task_column
        self.dose_column = dose_column
        self.id_column = id_column
        self.intervals = intervals
        self.info = info or {}

    @property
    def kind(self) -> str:
        """``linear`` for :class:`SharedSpecificRidge`, ``torch`` for the neural variant."""
        return "linear" if isinstance(self.regressor, SharedSpecificRidge) else "torch"

    @property
    def tasks(self) -> list[str]:
        """Names of the fitted tasks."""
        return list(self.regressor.tasks_)

    def design(self, frame: pd.DataFrame) -> tuple[np.ndarray, EncodingReport]:
        """Encode ``frame`` with the training encoder."""
        return self.encoder.transform(frame)

    def predict_target(self, frame: pd.DataFrame, unknown_tasks: str = "error") -> tuple[np.ndarray, np.ndarray, EncodingReport]:
        """Return the fitted-target prediction, a mask of rows predicted without task-specific
        parameters (unseen tasks) and the encoding report."""
        if self.task_column not in frame.columns:
            raise KeyError(f"the table has no task column {self.task_column!r}; every patient needs a task label")
        design, report = self.design(frame)
        tasks = frame[self.task_column].astype(str).str.strip().to_numpy()
        fallback = task_indices(tasks, self.tasks) < 0
        return self.regressor.predict(design, tasks, unknown_tasks=unknown_tasks), fallback, report

    def predict(self, frame: pd.DataFrame, level: float = 0.9, unknown_tasks: str = "error") -> pd.DataFrame:
        """Predict doses with a ``level`` interval.

        Returns one row per input row with ``id``, ``task``, ``predicted_dose``,
        ``lower``, ``upper`` (dose units) and ``task_fallback`` (True where the task was not
        fitted and the shared coefficients were used, allowed by ``unknown_tasks="shared"``).
        """
        predicted, fallback, _ = self.predict_target(frame, unknown_tasks=unknown_tasks)
        tasks = frame[self.task_column].astype(str).str.strip().to_numpy()
        ids = frame[self.id_column].astype(str).to_numpy() if self.id_column and self.id_column in frame.columns else frame.index.astype(str).to_numpy()
        result = pd.DataFrame({"id": ids, "task": tasks, "predicted_dose": self.target.inverse(predicted)})
        if self.intervals is not None:
            width = self.intervals.half_width(tasks, level)
            result["lower"] = self.target.inverse(predicted - width)
            result["upper"] = self.target.inverse(predicted + width)
        result["task_fallback"] = fallback
        return result

    def evaluate(self, table: PatientTable, unknown_tasks: str = "error") -> pd.DataFrame:
        """Return :func:`~molmtl.pharmaco.metrics.dose_metrics` of this model on ``table``."""
        predicted, _, _ = self.predict_target(table.frame, unknown_tasks=unknown_tasks)
        return dose_metrics(table.doses, self.target.inverse(predicted), table.tasks)

    # -- files ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the whole model as JSON-compatible data."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "regressor_kind": self.kind,
            "regressor": self.regressor.to_dict(),
            "encoder": self.encoder.to_dict(),
            "target_transform": self.target.name,
            "task_column": self.task_column,
            "dose_column": self.dose_column,
            "id_column": self.id_column,
            "intervals": None if self.intervals is None else self.intervals.to_dict(),
            "info": self.info,
        }

    def save(self, path: str | Path) -> None:
        """Write the model to ``path`` as JSON, atomically."""
        atomic_write_text(json.dumps(self.to_dict(), default=_json_default), path)

    @classmethod
    def load(cls, path: str | Path) -> DoseModel:
        """Read a model written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} not found")
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not a pharmaco model file (invalid JSON: {error})") from error
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"{path} is not a pharmaco model file (no format marker {FORMAT!r})")
        if payload["version"] > FORMAT_VERSION:
            raise ValueError(f"{path} has model format version {payload['version']}; this molmtl reads up to {FORMAT_VERSION}")
        return cls(
            encoder=TabularEncoder.from_dict(payload["encoder"]),
            regressor=regressor_from_dict(payload["regressor_kind"], payload["regressor"]),
            target=TargetTransform(payload["target_transform"]),
            task_column=payload["task_column"],
            dose_column=payload["dose_column"],
            id_column=payload["id_column"],
            intervals=None if payload["intervals"] is None else ResidualIntervals.from_dict(payload["intervals"]),
            info=payload["info"],
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to a model file")
