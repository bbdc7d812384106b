"""The generic multi-task trainer.

Usage with any domain that implements :class:`~molmtl.training.task.MultiTaskProblem`::

    from molmtl.training import Trainer, TrainerConfig

    trainer = Trainer(
        model,                      # torch.nn.Module
        problem,                    # MultiTaskProblem with .tasks
        train_dataset,              # map-style dataset; items merged by problem.collate
        valid_dataset,              # or None (then the training metrics select the best model)
        config=TrainerConfig(max_epochs=50, lr=1e-3, batch_size=16),
        weighting="uncertainty",    # "fixed", "uncertainty", "gradnorm" or a TaskWeighting
        run_dir="runs/example",     # or None to write nothing
    )
    history = trainer.fit()                  # list of per-epoch metric rows
    trainer.fit(resume=True)                 # continue from run_dir/checkpoint.pt instead

Under ``torchrun`` call :func:`molmtl.training.distributed.init_from_environment` first;
the trainer then shards the data, averages gradients and reduces metrics across ranks, and
only rank 0 writes files.

The run folder receives ``checkpoint.pt`` (every epoch, atomically), ``model.pt`` (the best
EMA weights through ``problem.save_model``), ``metrics.csv``, ``tensorboard/`` and
``plots/learning_curve_<task>.png``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from molmtl.training import distributed
from molmtl.training.checkpoint import (
    CHECKPOINT_NAME,
    capture_rng_states,
    load_checkpoint,
    restore_rng_states,
    save_checkpoint,
    seed_everything,
)
from molmtl.training.config import TrainerConfig
from molmtl.training.conflict import cosine_column, pairwise_cosines
from molmtl.training.ema import ExponentialMovingAverage
from molmtl.training.metrics import EpochMetrics
from molmtl.training.run_log import (
    METRICS_NAME,
    TENSORBOARD_FOLDER,
    MetricsLog,
    TensorBoardLog,
    format_number,
)
from molmtl.training.schedule import WarmupSchedule
from molmtl.training.step import TrainingStep
from molmtl.training.task import MultiTaskProblem
from molmtl.training.weighting import TaskWeighting, build_weighting

logger = logging.getLogger(__name__)

MODEL_NAME = "model.pt"


class Trainer:
    """Train ``model`` on the tasks of ``problem`` (see the module docstring for an example).

    ``train_data`` and ``valid_data`` are map-style datasets whose items ``problem.collate``
    merges into batches. Validation uses the EMA weights when ``config.ema_decay`` is set.
    The best model is the one with the lowest validation loss summed with the user's task
    weights (training loss when there is no validation set).
    """

    def __init__(
        self,
        model: nn.Module,
        problem: MultiTaskProblem,
        train_data: Dataset,
        valid_data: Dataset | None = None,
        *,
        config: TrainerConfig | None = None,
        weighting: str | TaskWeighting = "fixed",
        run_dir: str | Path | None = None,
    ) -> None:
        self.config = config or TrainerConfig()
        self.problem = problem
        self.tasks = list(problem.tasks)
        if not self.tasks:
            raise ValueError("the problem defines no tasks")
        self.task_names = [task.name for task in self.tasks]
        if len(set(self.task_names)) != len(self.task_names):
            raise ValueError(f"task names must be unique, got {self.task_names}")
        self.user_weights = {task.name: task.weight for task in self.tasks}
        self.device = torch.device(self.config.device) if self.config.device else _default_device()
        self.model = model.to(self.device)
        self.train_data = train_data
        self.valid_data = valid_data
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.is_writer = distributed.is_main_process() and self.run_dir is not None

        if isinstance(weighting, str):
            weighting = build_weighting(
                weighting,
                self.task_names,
                [task.weight for task in self.tasks],
                **self.config.weighting_options,
            )
        if list(weighting.task_names) != self.task_names:
            raise ValueError(
                f"weighting tasks {weighting.task_names} differ from problem tasks {self.task_names}"
            )
        self.weighting = weighting.to(self.device)

        distributed.broadcast_parameters(self.model)
        distributed.broadcast_parameters(self.weighting)
        self.optimizer = self._build_optimizer()
        self.train_loader, self.train_sampler = self._build_train_loader()
        self.valid_loader = self._build_valid_loader()
        warmup_steps = round(self.config.warmup_epochs * len(self.train_loader))
        self.schedule = WarmupSchedule(
            self.optimizer,
            kind=self.config.schedule,
            warmup_steps=warmup_steps,
            min_factor=self.config.min_lr_factor,
            plateau_factor=self.config.plateau_factor,
            plateau_patience=self.config.plateau_patience,
        )
        self.ema = (
            ExponentialMovingAverage(self.model, self.config.ema_decay) if self.config.ema_decay else None
        )
        self.step = TrainingStep(self.model, problem, self.weighting, self.optimizer, self.config)

        self.epoch = 0  # completed epochs
        self.global_step = 0
        self.elapsed_seconds = 0.0  # wall-clock seconds of all epochs so far, validation and writes included
        self._train_seconds = 0.0
        self._overhead_seconds = 0.0
        self.best_loss = math.inf
        self.best_epoch = 0
        self.epochs_without_improvement = 0
        self.history: list[dict[str, Any]] = []
        self.stop_reason = ""

    # ------------------------------------------------------------------ set-up
    def _build_optimizer(self) -> torch.optim.Optimizer:
        decay_parameters = [parameter for parameter in self.model.parameters() if parameter.requires_grad]
        groups: list[dict[str, Any]] = [
            {"params": decay_parameters, "weight_decay": self.config.weight_decay}
        ]
        extra = self.weighting.optimizer_parameters()
        if extra:
            groups.append({"params": extra, "weight_decay": 0.0})
        optimizer_class = torch.optim.AdamW if self.config.optimizer == "adamw" else torch.optim.Adam
        return optimizer_class(groups, lr=self.config.lr, amsgrad=self.config.amsgrad)

    def _build_train_loader(self) -> tuple[DataLoader, DistributedSampler]:
        if len(self.train_data) == 0:
            raise ValueError("the training set is empty")
        sampler = DistributedSampler(
            self.train_data,
            num_replicas=distributed.world_size(),
            rank=distributed.rank(),
            shuffle=True,
            seed=self.config.seed,
            drop_last=False,
        )
        loader = DataLoader(
            self.train_data,
            batch_size=self.config.batch_size,
            sampler=sampler,
            collate_fn=self.problem.collate,
            num_workers=self.config.num_workers,
        )
        return loader, sampler

    def _build_valid_loader(self) -> DataLoader | None:
        if self.valid_data is None or len(self.valid_data) == 0:
            return None
        # Each rank takes every world_size-th item, so that no item is counted twice.
        shard = Subset(
            self.valid_data, range(distributed.rank(), len(self.valid_data), distributed.world_size())
        )
        return DataLoader(
            shard,
            batch_size=self.config.valid_batch_size or self.config.batch_size,
            shuffle=False,
            collate_fn=self.problem.collate,
            num_workers=self.config.num_workers,
        )

    # ------------------------------------------------------------------ public
    @property
    def evaluation_model(self) -> nn.Module:
        """The model used for validation and saved as ``model.pt`` (the EMA copy when enabled)."""
        return self.ema.module if self.ema is not None else self.model

    def check_labels(self) -> dict[str, int]:
        """Count each task's labels in the training set; raise if a weighted task has none."""
        counts = {}
        for task in self.tasks:
            count = task.label_count(self.train_data)
            counts[task.name] = count
            if task.weight > 0 and count == 0:
                raise ValueError(
                    f"task {task.name!r} has weight {task.weight} but no labels in the training set; set "
                    "its weight to 0 or fix the label key"
                )
        return counts

    def fit(self, resume: bool = False) -> list[dict[str, Any]]:
        """Train until a limit or early stopping; return the metric rows of every epoch so far.

        With ``resume=True`` the state is first restored from ``run_dir/checkpoint.pt``.
        """
        self.check_labels()
        if resume and self.run_dir is None:
            raise ValueError("resume needs a run_dir that contains checkpoint.pt")
        if resume and not (self.run_dir / CHECKPOINT_NAME).is_file():
            # A run killed during its first epoch has no checkpoint yet, so it restarts from epoch 1.
            if distributed.is_main_process():
                logger.warning(
                    "%s has no %s yet; training starts from the first epoch", self.run_dir, CHECKPOINT_NAME
                )
            resume_from_checkpoint = False
        else:
            resume_from_checkpoint = resume
        if resume_from_checkpoint:
            self.load_state(self.run_dir / CHECKPOINT_NAME)
        else:
            seed_everything(self.config.seed + distributed.rank())

        metrics_log = tensorboard = None
        if self.is_writer:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            metrics_log = MetricsLog(self.run_dir / METRICS_NAME)
            if resume:
                # Rows written after the checkpoint (the run died before saving it) are dropped and redone.
                metrics_log.load(up_to_epoch=self.epoch)
            self.history = list(metrics_log.rows)
            if self.config.tensorboard:
                tensorboard = TensorBoardLog(self.run_dir / TENSORBOARD_FOLDER, first_epoch=self.epoch + 1)

        try:
            while not self._limit_reached():
                epoch_start = time.perf_counter()
                elapsed_before = self.elapsed_seconds
                row = self._run_epoch(epoch_start)
                self.history.append(row)
                if self.is_writer:
                    metrics_log.append(row)
                    if tensorboard is not None:
                        tensorboard.append(row, self.epoch)
                    self.save_state(self.run_dir / CHECKPOINT_NAME)
                distributed.barrier()
                self.elapsed_seconds = elapsed_before + time.perf_counter() - epoch_start
                # Validation and file writes of this epoch; the next epoch stops its batches early
                # enough to fit them inside the time limit.
                self._overhead_seconds = time.perf_counter() - epoch_start - self._train_seconds
                if self._early_stop():
                    break
        finally:
            if tensorboard is not None:
                tensorboard.close()
        if self.is_writer and self.config.plots and self.history:
            from molmtl.training.plots import plot_learning_curves

            plot_learning_curves(self.history, self.task_names, self.run_dir / "plots")
        if distributed.is_main_process():
            logger.info(
                "training stopped after epoch %d: %s; best epoch %d",
                self.epoch,
                self.stop_reason,
                self.best_epoch,
            )
        return self.history

    # ------------------------------------------------------------------ epochs
    def _limit_reached(self) -> bool:
        if self.config.max_epochs is not None and self.epoch >= self.config.max_epochs:
            self.stop_reason = f"reached max_epochs={self.config.max_epochs}"
            return True
        # An epoch runs at least one batch and a validation, so it only starts when they fit.
        if self._time_is_up(self._overhead_seconds):
            self.stop_reason = f"reached max_minutes={self.config.max_minutes}"
            return True
        return False

    def _time_is_up(self, extra_seconds: float = 0.0) -> bool:
        if self.config.max_minutes is None:
            return False
        flag = torch.tensor([float(self.elapsed_seconds + extra_seconds >= 60.0 * self.config.max_minutes)])
        # Every rank must stop at the same batch, so rank 0's clock decides.
        distributed.broadcast(flag)
        return bool(flag.item())

    def _progress(self, epoch_seconds: float) -> float:
        fractions = []
        if self.config.max_epochs is not None:
            fractions.append(self.global_step / max(1, self.config.max_epochs * len(self.train_loader)))
        if self.config.max_minutes is not None:
            fractions.append((self.elapsed_seconds + epoch_seconds) / (60.0 * self.config.max_minutes))
        return max(fractions)

    def _expected_overhead(self, train_seconds: float, batches: int) -> float:
        """Return the seconds that this epoch's validation and writes are expected to take."""
        if self._overhead_seconds > 0 or self.valid_loader is None:
            return self._overhead_seconds
        # NOTE: before the first validation this is a guess: a validation batch (forward and
        # first derivatives) taken as half a training step (which adds the second backward pass).
        return 0.5 * train_seconds / max(batches, 1) * len(self.valid_loader)

    def _run_epoch(self, epoch_start: float) -> dict[str, Any]:
        epoch = self.epoch + 1
        self.train_sampler.set_epoch(epoch)
        self.model.train()
        train_metrics = EpochMetrics(self.task_names)
        cosine_sums: dict[tuple[str, str], list[float]] = {}
        start = epoch_start
        elapsed_before = self.elapsed_seconds
        progress_bar = self._progress_bar(epoch)
        running: dict[str, float] = {}
        for batch_index, batch in enumerate(self.train_loader):
            if batch_index > 0 and self._time_is_up(
                time.perf_counter()
                - start
                + self._expected_overhead(time.perf_counter() - start, batch_index)
            ):
                break
            probe = batch_index < self.config.conflict_batches
            result = self.step.run(
                batch, self.device, probe_conflict=probe, epoch=epoch, batch_index=batch_index
            )
            self.global_step += 1
            self.schedule.step(self._progress(time.perf_counter() - start))
            if self.ema is not None:
                self.ema.update(self.model)
            train_metrics.add(result.outputs, result.total_loss)
            for pair, value in pairwise_cosines(result.probe_names, result.probe_gradients).items():
                cosine_sums.setdefault(pair, []).append(value)
            if progress_bar is not None:
                _update_running(running, result.outputs)
                progress_bar.set_postfix(
                    {name: format_number(value, 3) for name, value in running.items()}, refresh=False
                )
                progress_bar.update(1)
        if progress_bar is not None:
            progress_bar.close()
        self._train_seconds = time.perf_counter() - start
        train_metrics.reduce()

        valid_metrics = self.evaluate(self.valid_loader) if self.valid_loader is not None else None
        self.elapsed_seconds = elapsed_before + time.perf_counter() - start
        selection_metrics = valid_metrics if valid_metrics is not None else train_metrics
        selection_loss = selection_metrics.weighted_loss(self.user_weights)
        self.schedule.epoch_end(selection_loss)
        self.epoch = epoch

        improved = selection_loss < self.best_loss * (1.0 - self.config.early_stopping_min_delta) or (
            math.isinf(self.best_loss) and math.isfinite(selection_loss)
        )
        if improved:
            self.best_loss = selection_loss
            self.best_epoch = epoch
            self.epochs_without_improvement = 0
            if self.is_writer:
                self.problem.save_model(self.evaluation_model, str(self.run_dir / MODEL_NAME))
        else:
            self.epochs_without_improvement += 1

        row: dict[str, Any] = {
            "epoch": epoch,
            "time_s": self.elapsed_seconds,
            "lr": self.schedule.learning_rate(),
            "train_loss": train_metrics.mean_total_loss(),
            "valid_loss": selection_loss if valid_metrics is not None else math.nan,
            **train_metrics.as_row("train"),
        }
        if valid_metrics is not None:
            row.update(valid_metrics.as_row("valid"))
        row.update(self._reduce_diagnostics(self.weighting.epoch_diagnostics()))
        row.update(self._reduce_cosines(cosine_sums))
        if distributed.is_main_process():
            logger.info(_summary_line(row, self.task_names, valid_metrics is not None))
        return row

    @torch.no_grad()
    def _reduce_diagnostics(self, values: dict[str, float]) -> dict[str, float]:
        if not distributed.is_distributed():
            return values
        names = sorted(values)
        tensor = torch.tensor([values[name] for name in names], dtype=torch.float64)
        distributed.all_reduce_mean(tensor)
        return dict(zip(names, tensor.tolist()))

    def _reduce_cosines(self, cosine_sums: dict[tuple[str, str], list[float]]) -> dict[str, float]:
        pairs = [(a, b) for i, a in enumerate(self.task_names) for b in self.task_names[i + 1 :]]
        sums = torch.zeros(len(pairs), 2, dtype=torch.float64)
        for index, pair in enumerate(pairs):
            values = cosine_sums.get(pair, [])
            sums[index, 0] = sum(values)
            sums[index, 1] = len(values)
        distributed.all_reduce_sum(sums)
        row = {}
        for index, (name_a, name_b) in enumerate(pairs):
            if sums[index, 1] > 0:
                row[cosine_column(name_a, name_b)] = float(sums[index, 0] / sums[index, 1])
        return row

    def evaluate(self, loader: DataLoader, model: nn.Module | None = None) -> EpochMetrics:
        """Return the task metrics of ``model`` on ``loader``, reduced over ranks.

        ``model`` defaults to the evaluation model (the EMA copy when enabled).
        """
        model = model if model is not None else self.evaluation_model
        was_training = model.training
        model.eval()
        metrics = EpochMetrics(self.task_names)
        with torch.set_grad_enabled(self.problem.requires_grad_for_evaluation):
            for batch in loader:
                batch = self.problem.move_batch(batch, self.device)
                outputs = self.problem.forward(model, batch, training=False)
                outputs = {key: value.detach() for key, value in outputs.items()}
                metrics.add({task.name: task.evaluate(outputs, batch) for task in self.tasks})
        model.train(was_training)
        metrics.reduce()
        return metrics

    def _early_stop(self) -> bool:
        patience = self.config.early_stopping_patience
        if patience is not None and self.epochs_without_improvement >= patience:
            self.stop_reason = f"no improvement for {patience} epochs (early stopping)"
            return True
        return False

    def _progress_bar(self, epoch: int):
        if not (self.config.progress and distributed.is_main_process()):
            return None
        from tqdm.auto import tqdm

        total_epochs = self.config.max_epochs if self.config.max_epochs is not None else "?"
        return tqdm(
            total=len(self.train_loader),
            desc=f"epoch {epoch}/{total_epochs}",
            leave=False,
            dynamic_ncols=True,
        )

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Return everything needed to continue the run exactly where it stopped."""
        return {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "elapsed_seconds": self.elapsed_seconds,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "epochs_without_improvement": self.epochs_without_improvement,
            "task_names": self.task_names,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "weighting": self.weighting.state_dict(),
            "weighting_name": self.weighting.name,
            "rng": capture_rng_states(),
            "config": self.config.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by :meth:`state_dict`."""
        if list(state["task_names"]) != self.task_names:
            raise ValueError(
                f"checkpoint tasks {state['task_names']} differ from this run's tasks {self.task_names}"
            )
        if state["weighting_name"] != self.weighting.name:
            raise ValueError(
                f"checkpoint used weighting {state['weighting_name']!r}, this run uses "
                f"{self.weighting.name!r}"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.weighting.load_state_dict(state["weighting"])
        self.epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        self.elapsed_seconds = float(state["elapsed_seconds"])
        self.best_loss = float(state["best_loss"])
        self.best_epoch = int(state["best_epoch"])
        self.epochs_without_improvement = int(state["epochs_without_improvement"])
        restore_rng_states(state["rng"])

    def save_state(self, path: str | Path) -> None:
        """Write :meth:`state_dict` to ``path`` atomically."""
        save_checkpoint(self.state_dict(), path)

    def load_state(self, path: str | Path) -> None:
        """Restore the run from a checkpoint file."""
        self.load_state_dict(load_checkpoint(path))
        if distributed.is_main_process():
            logger.info("resumed from %s after epoch %d", path, self.epoch)


def _default_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _update_running(running: dict[str, float], outputs: dict[str, Any], smoothing: float = 0.9) -> None:
    for name, output in outputs.items():
        if float(output.count) <= 0:
            continue
        value = float(output.loss.detach())
        running[name] = (
            value if name not in running else smoothing * running[name] + (1.0 - smoothing) * value
        )


def _summary_line(row: dict[str, Any], task_names: Sequence[str], has_valid: bool) -> str:
    split = "valid" if has_valid else "train"
    parts = [
        f"epoch {row['epoch']}",
        f"lr {format_number(row['lr'], 3)}",
        f"train_loss {format_number(row['train_loss'], 4)}",
    ]
    for name in task_names:
        parts.append(
            f"{name}: {split} loss {format_number(row[f'{split}_{name}_loss'], 4)} "
            f"MAE {format_number(row[f'{split}_{name}_mae'], 4)} RMSE "
            f"{format_number(row[f'{split}_{name}_rmse'], 4)}"
        )
    return " | ".join(parts)
