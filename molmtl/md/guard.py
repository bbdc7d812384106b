"""Stability guard for MD: stop a run whose state is non-finite or whose temperature jumps."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


class MDInstabilityError(RuntimeError):
    """Raised when an MD step produced a state that must not be integrated further."""

    def __init__(self, step: int, reason: str) -> None:
        super().__init__(f"MD stopped at step {step}: {reason}")
        self.step = step
        self.reason = reason


@dataclass
class MDState:
    """Quantities of one MD step that the guard and the logger read (ASE units, temperature in K)."""

    step: int
    time_fs: float
    potential_energy: float
    kinetic_energy: float
    temperature: float
    positions: np.ndarray
    velocities: np.ndarray
    forces: np.ndarray
    dipole: np.ndarray | None = None
    volume: float | None = None

    @property
    def total_energy(self) -> float:
        """Potential plus kinetic energy in eV."""
        return self.potential_energy + self.kinetic_energy


class StabilityGuard:
    """Check every MD step and raise :class:`MDInstabilityError` on a broken state.

    A state is broken when any energy, position, velocity, force or dipole component is
    not finite, or when the temperature rose by more than ``max_temperature_ratio`` within
    one step. The ratio is taken against ``max(previous temperature, min_reference_temperature)``
    so that a start from rest (0 K) is not flagged for the first few kelvin it picks up.
    """

    def __init__(self, max_temperature_ratio: float = 10.0, min_reference_temperature: float = 10.0) -> None:
        if not max_temperature_ratio > 1:
            raise ValueError(f"max_temperature_ratio must be above 1, got {max_temperature_ratio}")
        if not min_reference_temperature > 0:
            raise ValueError(f"min_reference_temperature must be positive, got {min_reference_temperature} K")
        self.max_temperature_ratio = float(max_temperature_ratio)
        self.min_reference_temperature = float(min_reference_temperature)
        self._previous_temperature: float | None = None

    def check(self, state: MDState) -> None:
        """Raise :class:`MDInstabilityError` if ``state`` is broken; otherwise remember its temperature."""
        scalars = {
            "potential energy": state.potential_energy,
            "kinetic energy": state.kinetic_energy,
            "temperature": state.temperature,
        }
        for name, value in scalars.items():
            if not math.isfinite(value):
                raise MDInstabilityError(state.step, f"the {name} is {value}")
        arrays = {"positions": state.positions, "velocities": state.velocities, "forces": state.forces}
        if state.dipole is not None:
            arrays["dipole"] = state.dipole
        for name, array in arrays.items():
            bad = ~np.isfinite(array)
            if bad.any():
                raise MDInstabilityError(state.step, f"{int(bad.sum())} {name} components are not finite")

        previous = self._previous_temperature
        if previous is not None:
            reference = max(previous, self.min_reference_temperature)
            if state.temperature > self.max_temperature_ratio * reference:
                raise MDInstabilityError(
                    state.step,
                    f"the temperature jumped from {previous:.1f} K to {state.temperature:.1f} K in one step "
                    f"(more than {self.max_temperature_ratio:g}x); the structure is probably far from a "
                    "sensible geometry or the time step is too long",
                )
        self._previous_temperature = state.temperature
