"""Per-epoch logs of a run: ``metrics.csv`` (rewritten atomically) and TensorBoard events."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from molmtl.atomic_io import atomic_write_text

METRICS_NAME = "metrics.csv"
TENSORBOARD_FOLDER = "tensorboard"


def format_number(value: float, digits: int = 10) -> str:
    """Format ``value`` with ``digits`` significant digits; a small non-zero value keeps its exponent."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return f"{value:.{digits}g}"


class MetricsLog:
    """Rows of ``metrics.csv``: one per epoch, columns in order of first appearance.

    The whole file is rewritten through a temporary file and a rename after every epoch, so
    a killed run never leaves a half-written line. On resume, rows after the checkpoint's
    epoch are dropped, so the file has neither a gap nor a duplicate epoch.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = []

    def load(self, up_to_epoch: int) -> None:
        """Read the existing file and keep the rows of epochs ``<= up_to_epoch``."""
        if not self.path.is_file():
            return
        with open(self.path, newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            self.columns = list(reader.fieldnames or [])
            for row in reader:
                if int(row["epoch"]) <= up_to_epoch:
                    self.rows.append({key: _parse(value) for key, value in row.items()})

    def append(self, row: Mapping[str, Any]) -> None:
        """Add one epoch's row and rewrite the file."""
        for key in row:
            if key not in self.columns:
                self.columns.append(key)
        self.rows.append(dict(row))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        for entry in self.rows:
            writer.writerow([_format_cell(entry.get(column, "")) for column in self.columns])
        atomic_write_text(buffer.getvalue(), self.path)


def _format_cell(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_number(value)
    return str(value)


def _parse(text: str) -> Any:
    if text == "":
        return ""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


class TensorBoardLog:
    """Scalars per epoch under ``run_dir/tensorboard``; resumed runs purge events after the checkpoint."""

    def __init__(self, folder: Path, first_epoch: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(folder), purge_step=first_epoch)

    def append(self, row: Mapping[str, Any], epoch: int) -> None:
        """Write every numeric entry of ``row`` as a scalar at step ``epoch``."""
        for key, value in row.items():
            if key == "epoch" or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if isinstance(value, float) and not math.isfinite(value):
                continue
            self.writer.add_scalar(key.replace("_", "/", 1), value, epoch)
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()
