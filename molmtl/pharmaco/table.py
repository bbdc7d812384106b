"""Patient tables: reading a CSV with a task column and a dose column, with counted exclusions.

A :class:`PatientTable` is a pandas frame plus the names of its task, dose and id columns and a
record of the rows that were left out and why. Rows are only left out for a stated reason (no
dose, no task, a task outside the requested list) and every such count is kept in
``excluded`` and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from molmtl.pharmaco.genotypes import is_missing

logger = logging.getLogger(__name__)


@dataclass
class PatientTable:
    """Patient rows with the task (drug or cohort) and the observed dose.

    ``frame`` keeps the original row index of the source file. ``dose_column`` contains the dose in
    the units of the source (mg/week for warfarin) or NaN where unknown (allowed only when the
    table was read with ``require_dose=False``, for prediction).
    """

    frame: pd.DataFrame
    task_column: str
    dose_column: str
    id_column: str | None = None
    excluded: dict[str, int] = field(default_factory=dict)
    dose_unit: str = "mg/week"

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def tasks(self) -> np.ndarray:
        """Task label of each row, as strings."""
        return self.frame[self.task_column].astype(str).to_numpy()

    @property
    def doses(self) -> np.ndarray:
        """Observed doses as float64 (NaN where unknown)."""
        return pd.to_numeric(self.frame[self.dose_column], errors="coerce").to_numpy(dtype=np.float64)

    @property
    def ids(self) -> np.ndarray:
        """Patient identifiers, or the source row index when there is no id column."""
        if self.id_column is not None:
            return self.frame[self.id_column].astype(str).to_numpy()
        return self.frame.index.astype(str).to_numpy()

    def task_counts(self) -> dict[str, int]:
        """Return the number of rows per task, largest first."""
        return {str(task): int(count) for task, count in self.frame[self.task_column].astype(str).value_counts().items()}

    def subset(self, rows: np.ndarray) -> PatientTable:
        """Return the table restricted to positional ``rows`` (exclusion counts are kept)."""
        return PatientTable(self.frame.iloc[rows], self.task_column, self.dose_column, self.id_column, dict(self.excluded), self.dose_unit)

    def summary(self) -> str:
        """Return one line with the row count per task and the exclusions."""
        text = f"{len(self)} patients: " + ", ".join(f"{task} {count}" for task, count in self.task_counts().items())
        if self.excluded:
            text += "; excluded: " + ", ".join(f"{count} {reason}" for reason, count in self.excluded.items())
        return text


def prepare_table(
    frame: pd.DataFrame,
    task_column: str,
    dose_column: str,
    id_column: str | None = None,
    tasks: Sequence[str] | None = None,
    require_dose: bool = True,
    source: str = "table",
) -> PatientTable:
    """Check the required columns and leave out, with counts, rows that cannot be used.

    Rows without a task label are left out. With ``tasks`` given, rows of other tasks are left
    out too. With ``require_dose`` (training and evaluation) rows without a dose are left out; a
    dose that is not a positive number raises ``ValueError``.
    """
    for role, column in (("task", task_column), ("dose", dose_column), ("id", id_column)):
        if column is None:
            continue
        if column not in frame.columns:
            if role == "dose" and not require_dose:
                frame = frame.assign(**{column: np.nan})
                continue
            raise KeyError(
                f"{source} has no {role} column {column!r}; its columns are {list(frame.columns)[:20]}. "
                f"Set the {role} column name in the config (data.{role}_column)."
            )

    excluded: dict[str, int] = {}
    task_missing = frame[task_column].map(is_missing).to_numpy(dtype=bool)
    if task_missing.any():
        excluded["without a task label"] = int(task_missing.sum())
    keep = ~task_missing
    if tasks is not None:
        kept_tasks = {str(task) for task in tasks}
        other = keep & ~frame[task_column].astype(str).str.strip().isin(kept_tasks).to_numpy()
        if other.any():
            excluded[f"with a task outside {sorted(kept_tasks)}"] = int(other.sum())
        keep &= ~other

    raw_dose = frame[dose_column]
    dose_missing = raw_dose.map(is_missing).to_numpy(dtype=bool)
    dose = pd.to_numeric(raw_dose.where(~dose_missing), errors="coerce")
    unreadable = ~dose_missing & dose.isna().to_numpy()
    if unreadable.any():
        row = frame.index[np.flatnonzero(unreadable)[0]]
        raise ValueError(f"{source}: dose column {dose_column!r} has a non-numeric value {raw_dose.loc[row]!r} at row {row}; fix or blank it")
    nonpositive = keep & ~dose_missing & (dose.to_numpy() <= 0)
    if nonpositive.any():
        row = frame.index[np.flatnonzero(nonpositive)[0]]
        raise ValueError(f"{source}: dose column {dose_column!r} has a non-positive dose {dose.loc[row]} at row {row}; doses must be > 0")
    if require_dose:
        no_dose = keep & dose_missing
        if no_dose.any():
            excluded["without a dose"] = int(no_dose.sum())
        keep &= ~dose_missing

    result = frame.loc[keep].copy()
    result[task_column] = result[task_column].astype(str).str.strip()
    result[dose_column] = dose.loc[keep]
    if require_dose and len(result) == 0:
        raise ValueError(f"{source}: no rows left with a task and a dose (excluded: {excluded})")
    for reason, count in excluded.items():
        logger.info("%s: left out %d rows %s", source, count, reason)
    return PatientTable(result, task_column, dose_column, id_column, excluded)


def read_patient_csv(
    path: str | Path,
    task_column: str,
    dose_column: str,
    id_column: str | None = None,
    tasks: Sequence[str] | None = None,
    require_dose: bool = True,
) -> PatientTable:
    """Read a patient CSV (one row per patient) into a :class:`PatientTable`.

    All columns are read as text so that genotype and flag values are parsed by the encoders,
    not guessed by pandas. See :func:`prepare_table` for the row checks.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"patient table {path} not found")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return prepare_table(frame, task_column, dose_column, id_column, tasks, require_dose, source=str(path))
