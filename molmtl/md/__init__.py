"""Molecular dynamics with molmtl models: NVE, NVT and NPT through ASE, with a stability guard.

``run_md`` drives the ASE integrator, writes an extxyz trajectory and a CSV log, and stops
on a broken state (see :class:`~molmtl.md.guard.StabilityGuard`).
"""

from molmtl.md.analysis import EnergyConservation, energy_conservation, energy_conservation_from_log
from molmtl.md.driver import MDResult, MDSettings, run_md
from molmtl.md.guard import MDInstabilityError, StabilityGuard

__all__ = [
    "EnergyConservation",
    "MDInstabilityError",
    "MDResult",
    "MDSettings",
    "StabilityGuard",
    "energy_conservation",
    "energy_conservation_from_log",
    "run_md",
]
