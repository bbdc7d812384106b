"""Fixed task weights: the loss is the user-weighted sum of task losses."""

from __future__ import annotations

import torch

from molmtl.training.weighting.base import TaskWeighting


class FixedWeighting(TaskWeighting):
    """``L = sum_t w_t L_t`` with the user's weights ``w_t``."""

    name = "fixed"

    def combine(self, losses: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        weights = self.user_weights.to(losses.dtype)
        return (weights * losses).sum()
