"""One optimisation step of the multi-task trainer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from molmtl.training import distributed
from molmtl.training.config import TrainerConfig
from molmtl.training.task import MultiTaskProblem, TaskOutput
from molmtl.training.weighting import TaskWeighting


@dataclass
class StepResult:
    """Detached task outputs of one batch, the combined loss and the probed task gradients."""

    outputs: dict[str, TaskOutput]
    total_loss: float
    probe_names: list[str] = field(default_factory=list)
    probe_gradients: list[torch.Tensor | None] = field(default_factory=list)


class TrainingStep:
    """Forward, weighted loss, optional per-task gradient probes, backward, all-reduce, clip and step.

    Per-task gradients are computed with ``torch.autograd.grad`` before the combined backward
    pass: on the shared parameters for the gradient-conflict diagnostic (on probe batches
    only) and on the encoder's last layer when the weighting needs gradient norms (GradNorm,
    on every batch).
    """

    def __init__(
        self,
        model: nn.Module,
        problem: MultiTaskProblem,
        weighting: TaskWeighting,
        optimizer: torch.optim.Optimizer,
        config: TrainerConfig,
    ) -> None:
        self.model = model
        self.problem = problem
        self.weighting = weighting
        self.optimizer = optimizer
        self.config = config
        self.shared = [parameter for parameter in problem.shared_parameters(model) if parameter.requires_grad]
        self.last_shared = [
            parameter for parameter in problem.last_shared_parameters(model) if parameter.requires_grad
        ]
        if weighting.needs_task_gradient_norms and not self.last_shared:
            raise ValueError(
                f"{weighting.name} weighting needs trainable parameters from "
                "problem.last_shared_parameters(model)"
            )
        self.trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
        self.trainable += weighting.optimizer_parameters()

    def run(
        self, batch: Any, device: torch.device, probe_conflict: bool, epoch: int, batch_index: int
    ) -> StepResult:
        """Train on one batch and return its detached outputs."""
        batch = self.problem.move_batch(batch, device)
        self.optimizer.zero_grad(set_to_none=True)
        model_outputs = self.problem.forward(self.model, batch, training=True)
        outputs = {task.name: task.evaluate(model_outputs, batch) for task in self.problem.tasks}
        names = list(outputs)
        losses = torch.stack([outputs[name].loss.to(torch.float64) for name in names])
        present = torch.stack([outputs[name].count.detach().reshape(()) > 0 for name in names]).to(
            losses.device
        )
        total = self.weighting.combine(losses, present)
        self._check_finite(total, losses, names, epoch, batch_index)

        probe_names, probe_gradients, norms = self._probe(outputs, names, probe_conflict)
        if total.requires_grad:
            total.backward()
        distributed.average_gradients(self.trainable)
        if self.config.clip_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.trainable, self.config.clip_grad_norm)
        self.optimizer.step()
        self.weighting.after_backward(losses.detach(), present, norms)

        detached = {
            name: TaskOutput(
                output.loss.detach(),
                output.count.detach(),
                output.abs_error_sum.detach(),
                output.squared_error_sum.detach(),
            )
            for name, output in outputs.items()
        }
        return StepResult(detached, float(total.detach()), probe_names, probe_gradients)

    def _probe(self, outputs: dict[str, TaskOutput], names: list[str], probe_conflict: bool):
        want_norms = self.weighting.needs_task_gradient_norms
        if not (probe_conflict or want_norms):
            return [], [], None
        parameters = list(self.shared) if probe_conflict else []
        known = {id(parameter) for parameter in parameters}
        parameters += (
            [parameter for parameter in self.last_shared if id(parameter) not in known] if want_norms else []
        )
        last_ids = {id(parameter) for parameter in self.last_shared}

        probe_names: list[str] = []
        probe_gradients: list[torch.Tensor | None] = []
        norms = torch.zeros(len(names), dtype=torch.float64)
        for index, name in enumerate(names):
            loss = outputs[name].loss
            has_graph = loss.requires_grad and float(outputs[name].count) > 0
            parts = (
                torch.autograd.grad(loss, parameters, retain_graph=True, allow_unused=True)
                if has_graph
                else [None] * len(parameters)
            )
            flat = [
                (
                    part.reshape(-1)
                    if part is not None
                    else torch.zeros(parameter.numel(), dtype=parameter.dtype, device=parameter.device)
                )
                for part, parameter in zip(parts, parameters)
            ]
            if probe_conflict:
                probe_names.append(name)
                probe_gradients.append(
                    torch.cat(flat[: len(self.shared)]).detach().to(torch.float64) if has_graph else None
                )
            if want_norms:
                last = [vector for vector, parameter in zip(flat, parameters) if id(parameter) in last_ids]
                norms[index] = float(torch.linalg.vector_norm(torch.cat(last).to(torch.float64)))
        return probe_names, probe_gradients, norms if want_norms else None

    @staticmethod
    def _check_finite(
        total: torch.Tensor, losses: torch.Tensor, names: list[str], epoch: int, batch_index: int
    ) -> None:
        if bool(torch.isfinite(total)):
            return
        bad = [
            f"{name}={float(value)}"
            for name, value in zip(names, losses.detach())
            if not bool(torch.isfinite(value))
        ]
        raise FloatingPointError(
            f"non-finite training loss at epoch {epoch}, batch {batch_index} (task losses: "
            f"{', '.join(bad) or 'all finite, the weighting diverged'}); "
            "lower lr, enable clip_grad_norm or check the labels for NaN"
        )
