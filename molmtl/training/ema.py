"""Exponential moving average (EMA) of a model's weights."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class ExponentialMovingAverage:
    """Keep a copy of ``model`` whose floating-point weights track an EMA of the live ones.

    After each optimiser step, ``shadow = d * shadow + (1 - d) * live`` with
    ``d = min(decay, (1 + n) / (10 + n))`` where ``n`` counts the updates so far. The ramp
    lets the average follow the fast changes of the first steps instead of remembering the
    random initialisation. Integer buffers are copied as they are. ``decay = 0`` makes the
    copy equal to the live model.
    """

    def __init__(self, model: nn.Module, decay: float = 0.99) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.num_updates = 0
        self.module = copy.deepcopy(model)
        self.module.requires_grad_(False)
        self.module.eval()

    def current_decay(self) -> float:
        """Return the decay used by the next :meth:`update`."""
        return min(self.decay, (1.0 + self.num_updates) / (10.0 + self.num_updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the averaged weights towards ``model``'s current weights."""
        decay = self.current_decay()
        live = model.state_dict()
        for name, shadow in self.module.state_dict().items():
            value = live[name]
            if shadow.is_floating_point():
                shadow.mul_(decay).add_(value.detach(), alpha=1.0 - decay)
            else:
                shadow.copy_(value)
        self.num_updates += 1

    def state_dict(self) -> dict[str, Any]:
        """Return the averaged weights and the update counter for a checkpoint."""
        return {"decay": self.decay, "num_updates": self.num_updates, "module": self.module.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state written by :meth:`state_dict`."""
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])
        self.module.load_state_dict(state["module"])
