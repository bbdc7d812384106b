"""CSV log of an MD run: one row per written step, flushed as it goes."""

from __future__ import annotations

import csv
import os
from typing import IO

from molmtl.md.guard import MDState

BASE_COLUMNS = (
    "step",
    "time_fs",
    "potential_energy_eV",
    "kinetic_energy_eV",
    "total_energy_eV",
    "temperature_K",
    "dipole_x_eA",
    "dipole_y_eA",
    "dipole_z_eA",
)
VOLUME_COLUMN = "volume_A3"


class CSVLogger:
    """Write :class:`MDState` rows to a CSV file; the volume column is present for periodic runs.

    Dipole columns (e·Å, about the centre of mass) are empty when the model has no dipole head.
    Each row is flushed, so the file holds every step logged before a crash or a guard stop.
    """

    def __init__(self, path: str | os.PathLike[str], with_volume: bool = False) -> None:
        self.path = os.fspath(path)
        self.with_volume = with_volume
        self._stream: IO[str] = open(self.path, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._stream)
        self._writer.writerow(BASE_COLUMNS + ((VOLUME_COLUMN,) if with_volume else ()))

    def write(self, state: MDState) -> None:
        """Append one row for ``state``."""
        dipole = ["", "", ""] if state.dipole is None else [f"{value:.10g}" for value in state.dipole]
        row = [
            str(state.step),
            f"{state.time_fs:.6f}",
            f"{state.potential_energy:.10f}",
            f"{state.kinetic_energy:.10f}",
            f"{state.total_energy:.10f}",
            f"{state.temperature:.6f}",
            *dipole,
        ]
        if self.with_volume:
            row.append("" if state.volume is None else f"{state.volume:.8f}")
        self._writer.writerow(row)
        self._stream.flush()

    def close(self) -> None:
        """Close the file."""
        self._stream.close()
