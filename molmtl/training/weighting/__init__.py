"""Task-weighting strategies: ``fixed``, ``uncertainty`` and ``gradnorm``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from molmtl.training.weighting.base import TaskWeighting
from molmtl.training.weighting.fixed import FixedWeighting
from molmtl.training.weighting.gradnorm import GradNormWeighting
from molmtl.training.weighting.uncertainty import UncertaintyWeighting

STRATEGIES: dict[str, type[TaskWeighting]] = {
    FixedWeighting.name: FixedWeighting,
    UncertaintyWeighting.name: UncertaintyWeighting,
    GradNormWeighting.name: GradNormWeighting,
}


def build_weighting(
    name: str, task_names: Sequence[str], user_weights: Sequence[float], **options: Any
) -> TaskWeighting:
    """Return the strategy called ``name`` for the given tasks; ``options`` go to its constructor."""
    try:
        strategy = STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown weighting {name!r}; choose one of {sorted(STRATEGIES)}") from None
    return strategy(task_names, user_weights, **options)


__all__ = [
    "STRATEGIES",
    "FixedWeighting",
    "GradNormWeighting",
    "TaskWeighting",
    "UncertaintyWeighting",
    "build_weighting",
]
