"""Energy conservation of an NVE run: total-energy drift and fluctuations from the MD log."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np


@dataclass
class EnergyConservation:
    """Drift and fluctuations of an NVE run.

    ``drift`` is the slope of a straight-line fit of the total energy against time, per atom,
    in meV/atom/ps. ``total_std`` and ``kinetic_std`` are the standard deviations of the
    total and kinetic energies in meV/atom. A well-integrated run has ``total_std`` far
    below ``kinetic_std``.
    """

    drift: float
    total_std: float
    kinetic_std: float
    duration_ps: float
    num_atoms: int

    def summary(self) -> str:
        """Return a one-line description with units."""
        return (
            f"NVE over {self.duration_ps:.3g} ps, {self.num_atoms} atoms: drift {self.drift:+.4f} meV/atom/ps, "
            f"std(Etot) {self.total_std:.4f} meV/atom, std(Ekin) {self.kinetic_std:.4f} meV/atom"
        )


def energy_conservation(
    time_fs: np.ndarray, total_energy: np.ndarray, kinetic_energy: np.ndarray, num_atoms: int
) -> EnergyConservation:
    """Fit the drift of ``total_energy`` (eV) against ``time_fs`` and compare it with the kinetic energy (eV)."""
    time_ps = np.asarray(time_fs, dtype=np.float64) / 1000.0
    total = np.asarray(total_energy, dtype=np.float64) * 1000.0 / num_atoms
    kinetic = np.asarray(kinetic_energy, dtype=np.float64) * 1000.0 / num_atoms
    if time_ps.size < 3:
        raise ValueError(f"an energy drift fit needs at least 3 logged steps, got {time_ps.size}")
    slope = np.polyfit(time_ps, total, 1)[0]
    return EnergyConservation(
        drift=float(slope),
        total_std=float(total.std()),
        kinetic_std=float(kinetic.std()),
        duration_ps=float(time_ps[-1] - time_ps[0]),
        num_atoms=int(num_atoms),
    )


def energy_conservation_from_log(path: str | os.PathLike[str], num_atoms: int) -> EnergyConservation:
    """Read a CSV log written by ``molmtl md`` and return :func:`energy_conservation` of it."""
    with open(path, newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    if not rows:
        raise ValueError(f"{path} contains no logged steps")
    columns = ("time_fs", "total_energy_eV", "kinetic_energy_eV")
    values = {name: np.array([float(row[name]) for row in rows]) for name in columns}
    return energy_conservation(values["time_fs"], values["total_energy_eV"], values["kinetic_energy_eV"], num_atoms)
