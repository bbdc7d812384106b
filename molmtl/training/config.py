"""Settings of the generic trainer (optimiser, schedule, limits, EMA, diagnostics)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass
class TrainerConfig:
    """Optimisation and run settings of :class:`molmtl.training.trainer.Trainer`.

    Limits: training stops after ``max_epochs`` epochs or ``max_minutes`` minutes, whichever
    comes first (at least one must be set). The minutes are wall-clock time of the epochs
    (training, validation and checkpoint writes, not the set-up before the first epoch), and
    a resumed run counts the time of its earlier runs. An epoch that would pass the limit
    stops its batches early, leaving room for its validation as long as the previous one
    took, and is then validated and checkpointed.

    Learning rate: ``lr`` after a linear warm-up of ``warmup_epochs`` epochs, then
    ``schedule``: ``plateau`` (multiply by ``plateau_factor`` after ``plateau_patience``
    epochs without improvement of the validation loss), ``cosine`` (decay to
    ``lr * min_lr_factor`` at the end of the run, measured in epochs or minutes, whichever
    is further along) or ``constant``.
    """

    max_epochs: int | None = 100
    max_minutes: float | None = None
    batch_size: int = 8
    valid_batch_size: int | None = None
    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    amsgrad: bool = False
    schedule: Literal["plateau", "cosine", "constant"] = "plateau"
    warmup_epochs: float = 1.0
    min_lr_factor: float = 0.01
    plateau_factor: float = 0.5
    plateau_patience: int = 5
    #: Maximum global norm of the gradients; None or 0 disables clipping.
    clip_grad_norm: float | None = 10.0
    #: EMA decay of the weights used for validation and ``model.pt``; None disables the EMA.
    ema_decay: float | None = 0.99
    #: Epochs without a relative improvement above ``early_stopping_min_delta`` before the run stops.
    #: None disables early stopping.
    early_stopping_patience: int | None = None
    early_stopping_min_delta: float = 0.0
    seed: int = 0
    #: ``cpu``, ``cuda`` or ``cuda:N``; None picks CUDA when available.
    device: str | None = None
    num_workers: int = 0
    #: Training batches per epoch (the first ones) on which the per-task gradient cosines are measured.
    conflict_batches: int = 2
    #: Keyword options of the weighting strategy (e.g. ``alpha`` and ``learning_rate`` for GradNorm).
    weighting_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    tensorboard: bool = True
    plots: bool = True

    def __post_init__(self) -> None:
        if self.max_epochs is None and self.max_minutes is None:
            raise ValueError("set max_epochs or max_minutes (or both); a run needs a limit")
        if self.max_epochs is not None and self.max_epochs < 1:
            raise ValueError(f"max_epochs must be >= 1, got {self.max_epochs}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be > 0, got {self.max_minutes}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected 'adam' or 'adamw'")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {self.warmup_epochs}")

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain Python values."""
        return asdict(self)
