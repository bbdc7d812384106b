"""Molecular tasks, problem, YAML config and run set-up on top of the generic trainer."""

from molmtl.training.molecular.problem import MolecularProblem
from molmtl.training.molecular.tasks import (
    TASKS,
    ChargesTask,
    DipoleTask,
    EnergyPerAtomTask,
    ForcesTask,
    MolecularTask,
    StressTask,
)

__all__ = [
    "TASKS",
    "ChargesTask",
    "DipoleTask",
    "EnergyPerAtomTask",
    "ForcesTask",
    "MolecularProblem",
    "MolecularTask",
    "StressTask",
]
