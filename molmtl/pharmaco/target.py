"""Target transforms: models are fitted on a transformed dose and report doses in the source unit."""

from __future__ import annotations

import numpy as np

TRANSFORMS = ("none", "sqrt")


class TargetTransform:
    """A monotone map between the dose (e.g. mg/week) and the fitted target.

    ``sqrt`` fits the square root of the dose, as the IWPC warfarin algorithms do, which
    evens out the variance of large and small doses. The inverse clips negative square roots
    to zero, so a predicted dose is never negative.
    """

    def __init__(self, name: str = "none") -> None:
        if name not in TRANSFORMS:
            raise ValueError(f"target transform must be one of {TRANSFORMS}, got {name!r}")
        self.name = name

    def forward(self, dose: np.ndarray) -> np.ndarray:
        """Map doses to the fitted target."""
        dose = np.asarray(dose, dtype=np.float64)
        return np.sqrt(dose) if self.name == "sqrt" else dose

    def inverse(self, target: np.ndarray) -> np.ndarray:
        """Map fitted targets back to doses."""
        target = np.asarray(target, dtype=np.float64)
        return np.square(np.clip(target, 0.0, None)) if self.name == "sqrt" else target

    @property
    def unit_label(self) -> str:
        """Label of the fitted target, for tables and plots."""
        return "sqrt(dose)" if self.name == "sqrt" else "dose"
