"""Neural shared-plus-specific dose model trained with the generic multi-task trainer.

The network keeps the linear model's structure and adds shared nonlinear layers::

    h = MLP(x)                                   (shared by all tasks)
    y_t = x . (w + v_t) + h . (u + u_t) + b_t

``w`` and ``u`` are shared, ``v_t``, ``u_t`` and ``b_t`` belong to task ``t``. Each task
(one per drug or cohort) is a :class:`~molmtl.training.task.Task` whose loss is the mean
squared error of its patients in the batch plus, in training only, the penalties
``specific_decay * (|v_t|^2 + |u_t|^2) + shared_decay / T * (|w|^2 + |u|^2)``. The MLP weights
get the trainer's ``weight_decay``. Task weighting (fixed, uncertainty, GradNorm), EMA,
early stopping and the gradient-conflict diagnostic come from :class:`molmtl.training.Trainer`.

Inputs and target are standardised with the training statistics. A stratified validation
split (``valid_fraction``) selects the best epoch and calibrates the prediction intervals
(split conformal). NOTE: unlike the linear model, the final network is trained on the
training split only and is not refitted on all rows.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from molmtl.pharmaco.encoding import FeatureSpec, TabularEncoder
from molmtl.pharmaco.intervals import ResidualIntervals
from molmtl.pharmaco.linear import check_design, task_indices
from molmtl.pharmaco.metrics import dose_metrics
from molmtl.pharmaco.model import DoseModel
from molmtl.pharmaco.table import PatientTable
from molmtl.pharmaco.target import TargetTransform
from molmtl.training.task import MultiTaskProblem, Task, TaskOutput

logger = logging.getLogger(__name__)


@dataclass
class TorchOptions:
    """Options of the neural variant.

    ``hidden``: widths of the shared MLP layers. ``specific_decay`` / ``shared_decay``: L2
    penalties (per patient, on the standardised scale) of the task-specific and shared output
    weights. ``weight_decay``: trainer weight decay (all network weights). ``weighting``:
    ``fixed``, ``uncertainty`` or ``gradnorm``. ``valid_fraction``: share of each task held out
    for early stopping and interval calibration.
    """

    hidden: list[int] = field(default_factory=lambda: [32, 32])
    specific_decay: float = 1e-2
    shared_decay: float = 1e-4
    weight_decay: float = 0.1
    weighting: str = "fixed"
    epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    patience: int = 15
    ema_decay: float | None = 0.99
    valid_fraction: float = 0.15
    target_transform: str = "sqrt"
    seed: int = 0
    device: str = "cpu"
    progress: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.valid_fraction < 0.5:
            raise ValueError(f"valid_fraction must be between 0 and 0.5, got {self.valid_fraction}")
        if not self.hidden or any(int(width) < 1 for width in self.hidden):
            raise ValueError(f"hidden must list positive layer widths, got {self.hidden}")
        TargetTransform(self.target_transform)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> TorchOptions:
        """Build options from a config mapping; unknown keys raise ``ValueError``."""
        unknown = set(payload) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown torch model keys {sorted(unknown)}; allowed keys are {sorted(cls.__dataclass_fields__)}")
        return cls(**payload)


class SharedSpecificNet(nn.Module):
    """``y_t = x . (w + v_t) + MLP(x) . (u + u_t) + b_t`` on standardised inputs.

    ``forward(x, task)`` takes ``x`` ``[B, p]`` and task indices ``[B]``; index -1 (a task
    without fitted parameters) uses the shared part and ``fallback_intercept``.
    """

    def __init__(self, num_features: int, num_tasks: int, hidden: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = num_features
        for size in hidden:
            layers += [nn.Linear(width, int(size)), nn.SiLU()]
            width = int(size)
        self.trunk = nn.Sequential(*layers)
        self.shared_linear = nn.Parameter(torch.zeros(num_features))
        self.task_linear = nn.Parameter(torch.zeros(num_tasks, num_features))
        self.shared_head = nn.Parameter(torch.zeros(width))
        self.task_heads = nn.Parameter(torch.zeros(num_tasks, width))
        self.intercepts = nn.Parameter(torch.zeros(num_tasks))
        self.register_buffer("task_weights", torch.ones(num_tasks) / num_tasks)

    @property
    def fallback_intercept(self) -> torch.Tensor:
        """Intercept for rows without a task: the patient-weighted mean of the task intercepts."""
        return (self.intercepts * self.task_weights).sum()

    def forward(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """Return predictions ``[B]`` on the standardised target scale."""
        hidden = self.trunk(x)
        shared = x @ self.shared_linear + hidden @ self.shared_head
        known = task >= 0
        index = task.clamp(min=0)
        specific = (x * self.task_linear[index]).sum(-1) + (hidden * self.task_heads[index]).sum(-1) + self.intercepts[index]
        return shared + torch.where(known, specific, self.fallback_intercept.expand_as(shared))


class PatientDataset(Dataset):
    """Items ``{"x": [p], "y": scalar, "task": index}`` from standardised arrays."""

    def __init__(self, x: np.ndarray, y: np.ndarray, task: np.ndarray) -> None:
        self.x = torch.as_tensor(x, dtype=torch.float32)
        self.y = torch.as_tensor(y, dtype=torch.float32)
        self.task = torch.as_tensor(task, dtype=torch.long)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "y": self.y[index], "task": self.task[index]}


class PatientGroupTask(Task):
    """Mean squared error over the batch's patients of one task, plus its training penalty."""

    def __init__(self, name: str, index: int, weight: float = 1.0) -> None:
        super().__init__(name, weight)
        self.index = index

    def evaluate(self, outputs: Mapping[str, torch.Tensor], batch: Any) -> TaskOutput:
        mask = batch["task"] == self.index
        error = outputs["prediction"][mask] - batch["y"][mask]
        count = mask.sum()
        if int(count) == 0:
            zero = outputs["prediction"].sum() * 0.0
            return TaskOutput(zero, count, zero.detach(), zero.detach())
        squared = error.pow(2)
        loss = squared.mean()
        penalty = outputs.get(f"penalty:{self.name}")
        if penalty is not None:
            loss = loss + penalty
        return TaskOutput(loss, count, error.abs().sum().detach(), squared.sum().detach())

    def label_count(self, dataset: Any) -> int:
        return int((dataset.task == self.index).sum())


class DoseProblem(MultiTaskProblem):
    """Glue between :class:`SharedSpecificNet`, the patient batches and the trainer."""

    def __init__(self, task_names: list[str], specific_decay: float, shared_decay: float) -> None:
        self.tasks = [PatientGroupTask(name, index) for index, name in enumerate(task_names)]
        self.specific_decay = float(specific_decay)
        self.shared_decay = float(shared_decay)

    def forward(self, model: nn.Module, batch: Any, training: bool) -> dict[str, torch.Tensor]:
        outputs = {"prediction": model(batch["x"], batch["task"])}
        if training:
            shared = (model.shared_linear.pow(2).sum() + model.shared_head.pow(2).sum()) * (self.shared_decay / len(self.tasks))
            for task in self.tasks:
                specific = model.task_linear[task.index].pow(2).sum() + model.task_heads[task.index].pow(2).sum()
                outputs[f"penalty:{task.name}"] = self.specific_decay * specific + shared
        return outputs

    def shared_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        return [*model.trunk.parameters(), model.shared_linear, model.shared_head]

    def last_shared_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        return list(model.trunk[-2].parameters())

    def batch_size(self, batch: Any) -> int:
        return int(batch["x"].shape[0])

    def move_batch(self, batch: Any, device: torch.device) -> Any:
        return {key: value.to(device) for key, value in batch.items()}


def _validation_rows(tasks: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a per-task random validation split (at least one row per task of 3+)."""
    rng = np.random.default_rng(seed)
    valid = np.zeros(len(tasks), dtype=bool)
    for task in np.unique(tasks):
        rows = np.flatnonzero(tasks == task)
        if len(rows) < 3:
            continue
        chosen = rng.choice(rows, size=max(1, int(round(fraction * len(rows)))), replace=False)
        valid[chosen] = True
    return valid


class TorchDoseRegressor:
    """Fit and apply :class:`SharedSpecificNet` through :class:`molmtl.training.Trainer`.

    Fitted attributes: ``tasks_``, ``task_counts_``, ``network_``, the standardisation
    statistics and ``history_`` (the trainer's per-epoch rows).
    """

    def __init__(self, options: TorchOptions | None = None) -> None:
        self.options = options or TorchOptions()

    def fit(self, design: np.ndarray, target: np.ndarray, tasks: np.ndarray, valid: np.ndarray, run_dir: str | Path | None = None) -> TorchDoseRegressor:
        """Train on the rows where ``valid`` is False; validate on the others."""
        from molmtl.training import Trainer, TrainerConfig

        check_design(design, target, tasks)
        options = self.options
        train_rows = ~valid
        self.tasks_ = sorted({str(task) for task in tasks[train_rows]})
        counts = np.array([(tasks[train_rows] == task).sum() for task in self.tasks_])
        self.task_counts_ = counts
        self.x_mean_ = design[train_rows].mean(axis=0)
        scale = design[train_rows].std(axis=0)
        self.x_scale_ = np.where(scale > 0, scale, 1.0)
        self.y_mean_ = float(target[train_rows].mean())
        self.y_scale_ = float(target[train_rows].std()) or 1.0

        torch.manual_seed(options.seed)
        network = SharedSpecificNet(design.shape[1], len(self.tasks_), list(options.hidden))
        with torch.no_grad():
            network.task_weights.copy_(torch.as_tensor(counts / counts.sum(), dtype=torch.float32))
            index = task_indices(tasks[train_rows], self.tasks_)
            scaled_target = (target[train_rows] - self.y_mean_) / self.y_scale_
            network.intercepts.copy_(torch.as_tensor([scaled_target[index == task].mean() for task in range(len(self.tasks_))], dtype=torch.float32))

        def dataset(rows: np.ndarray) -> PatientDataset:
            return PatientDataset(self._scale(design[rows]), (target[rows] - self.y_mean_) / self.y_scale_, task_indices(tasks[rows], self.tasks_))

        problem = DoseProblem(self.tasks_, options.specific_decay, options.shared_decay)
        config = TrainerConfig(
            max_epochs=options.epochs,
            batch_size=options.batch_size,
            lr=options.lr,
            optimizer="adamw",
            weight_decay=options.weight_decay,
            schedule="plateau",
            warmup_epochs=1.0,
            ema_decay=options.ema_decay,
            early_stopping_patience=options.patience,
            seed=options.seed,
            device=options.device,
            progress=options.progress,
            tensorboard=False,
            plots=False,
        )
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(run_dir) if run_dir is not None else Path(scratch)
            trainer = Trainer(network, problem, dataset(train_rows), dataset(valid) if valid.any() else None, config=config, weighting=options.weighting, run_dir=folder)
            self.history_ = trainer.fit()
            best = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        network.load_state_dict(best["state_dict"])
        self.network_ = network.cpu().eval()
        logger.info("torch dose model: best epoch %d of %d", trainer.best_epoch, trainer.epoch)
        self.best_epoch_ = int(trainer.best_epoch)
        return self

    def _scale(self, design: np.ndarray) -> np.ndarray:
        return (design - self.x_mean_) / self.x_scale_

    def predict(self, design: np.ndarray, tasks: np.ndarray, unknown_tasks: str = "error") -> np.ndarray:
        """Predict the fitted target; unknown tasks follow the rule of the linear model."""
        if not hasattr(self, "network_"):
            raise RuntimeError("the model is not fitted; call fit() first")
        design = np.asarray(design, dtype=np.float64)
        check_design(design, None, np.asarray(tasks))
        if design.shape[1] != len(self.x_mean_):
            raise ValueError(f"design has {design.shape[1]} columns but the model was fitted on {len(self.x_mean_)}")
        index = task_indices(np.asarray(tasks), self.tasks_)
        if (index < 0).any() and unknown_tasks != "shared":
            names = sorted({str(task) for task in np.asarray(tasks)[index < 0]})
            raise ValueError(f"tasks {names} were not fitted (fitted tasks: {self.tasks_}). Pass unknown_tasks='shared' to predict them from the shared part.")
        with torch.no_grad():
            scaled = self.network_(torch.as_tensor(self._scale(design), dtype=torch.float32), torch.as_tensor(index))
        return scaled.double().numpy() * self.y_scale_ + self.y_mean_

    def to_dict(self) -> dict[str, Any]:
        """Return options, statistics and network weights as JSON-compatible data."""
        return {
            "options": asdict(self.options),
            "tasks": self.tasks_,
            "task_counts": self.task_counts_.tolist(),
            "x_mean": self.x_mean_.tolist(),
            "x_scale": self.x_scale_.tolist(),
            "y_mean": self.y_mean_,
            "y_scale": self.y_scale_,
            "best_epoch": self.best_epoch_,
            "state_dict": {name: value.tolist() for name, value in self.network_.state_dict().items()},
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> TorchDoseRegressor:
        """Rebuild a fitted regressor written by :meth:`to_dict`."""
        regressor = cls(TorchOptions.from_dict(payload["options"]))
        regressor.tasks_ = [str(task) for task in payload["tasks"]]
        regressor.task_counts_ = np.asarray(payload["task_counts"])
        regressor.x_mean_ = np.asarray(payload["x_mean"], dtype=np.float64)
        regressor.x_scale_ = np.asarray(payload["x_scale"], dtype=np.float64)
        regressor.y_mean_ = float(payload["y_mean"])
        regressor.y_scale_ = float(payload["y_scale"])
        regressor.best_epoch_ = int(payload["best_epoch"])
        network = SharedSpecificNet(len(regressor.x_mean_), len(regressor.tasks_), list(regressor.options.hidden))
        network.load_state_dict({name: torch.as_tensor(value, dtype=torch.float32) for name, value in payload["state_dict"].items()})
        regressor.network_ = network.eval()
        return regressor


def fit_torch_dose_model(table: PatientTable, features: FeatureSpec, options: TorchOptions | None = None, run_dir: str | Path | None = None) -> DoseModel:
    """Fit the neural variant on ``table``; ``run_dir`` keeps the trainer's files (metrics.csv, checkpoints)."""
    options = options or TorchOptions()
    encoder = TabularEncoder(features).fit(table.frame)
    design, report = encoder.transform(table.frame)
    transform = TargetTransform(options.target_transform)
    target = transform.forward(table.doses)
    tasks = table.tasks
    valid = _validation_rows(tasks, options.valid_fraction, options.seed)
    regressor = TorchDoseRegressor(options).fit(design, target, tasks, valid, run_dir=run_dir)

    predicted = regressor.predict(design[valid], tasks[valid])
    intervals = ResidualIntervals.from_residuals(target[valid] - predicted, tasks[valid])
    metrics = dose_metrics(table.doses[valid], transform.inverse(predicted), tasks[valid])
    info = {
        "options": asdict(options),
        "selection": {"best_epoch": regressor.best_epoch_, "epochs_run": len(regressor.history_), "valid_rows": int(valid.sum())},
        "task_counts": table.task_counts(),
        "excluded_rows": table.excluded,
        "skipped_tasks": {},
        "encoding": report.to_dict(),
        "cv_metrics": metrics.reset_index(names="task").to_dict(orient="records"),
        "metrics_source": "validation split",
        "dose_unit": table.dose_unit,
    }
    return DoseModel(encoder, regressor, transform, table.task_column, table.dose_column, table.id_column, intervals, info)
