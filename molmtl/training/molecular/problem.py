"""The molecular multi-task problem: runs a :class:`~molmtl.nn.model.MolMTLModel` on graph batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from molmtl.training.molecular.tasks import ForcesTask, MolecularTask, StressTask
from molmtl.training.task import MultiTaskProblem


class MolecularProblem(MultiTaskProblem):
    """Tasks on torch-geometric batches of molecules or crystals.

    Forces are computed when a forces task is present and stress when a stress task is
    present. The shared parameters are the encoder's; GradNorm reads the encoder's last
    interaction layer.
    """

    requires_grad_for_evaluation = True

    def __init__(self, tasks: Sequence[MolecularTask]) -> None:
        self.tasks = list(tasks)
        self.compute_forces = any(isinstance(task, ForcesTask) for task in self.tasks)
        self.compute_stress = any(isinstance(task, StressTask) for task in self.tasks)

    def forward(self, model: nn.Module, batch: Any, training: bool) -> dict[str, torch.Tensor]:
        return model(batch, compute_forces=self.compute_forces, compute_stress=self.compute_stress)

    def shared_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        return [parameter for parameter in model.encoder.parameters() if parameter.requires_grad]

    def last_shared_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        return [parameter for parameter in model.encoder.layers[-1].parameters() if parameter.requires_grad]

    def collate(self, samples: list[Any]) -> Any:
        from torch_geometric.data import Batch

        return Batch.from_data_list(samples)

    def batch_size(self, batch: Any) -> int:
        return int(batch.num_graphs)

    def save_model(self, model: nn.Module, path: str) -> None:
        from molmtl.nn.serialization import save_model

        save_model(model, path)
