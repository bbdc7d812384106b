"""Generic multi-task training: trainer, task interface, weighting strategies and logs."""

from molmtl.training.checkpoint import seed_everything
from molmtl.training.config import TrainerConfig
from molmtl.training.task import MultiTaskProblem, Task, TaskOutput
from molmtl.training.trainer import Trainer

__all__ = ["MultiTaskProblem", "Task", "TaskOutput", "Trainer", "TrainerConfig", "seed_everything"]
