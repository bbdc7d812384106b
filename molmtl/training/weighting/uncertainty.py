"""Learned homoscedastic task uncertainty.

Kendall, Gal and Cipolla, "Multi-task learning using uncertainty to weigh losses for scene
geometry and semantics", CVPR 2018. For a regression task with Gaussian likelihood and
variance ``sigma_t^2`` the negative log-likelihood is, up to a constant,
``L_t / (2 sigma_t^2) + log sigma_t``. With ``s_t = log sigma_t^2`` this is
``0.5 exp(-s_t) L_t + 0.5 s_t``, which is minimised at ``sigma_t^2 = L_t``: when ``L_t`` is a
mean squared error, the learned variance converges to the task's residual variance.
"""

from __future__ import annotations

import torch
from torch import nn

from molmtl.training.weighting.base import TaskWeighting


class UncertaintyWeighting(TaskWeighting):
    """``L = sum_t w_t (0.5 exp(-s_t) L_t + 0.5 s_t)`` with learned log-variances ``s_t``.

    The user weights ``w_t`` stay as multipliers (1 for the plain method). A task without
    labels in the batch contributes nothing, not even its ``0.5 s_t`` term, so that missing
    labels do not drive its variance down.
    """

    name = "uncertainty"

    def __init__(self, task_names, user_weights, initial_log_variance: float = 0.0) -> None:
        super().__init__(task_names, user_weights)
        self.log_variances = nn.Parameter(
            torch.full((len(self.task_names),), float(initial_log_variance), dtype=torch.float64)
        )

    def combine(self, losses: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        log_variances = self.log_variances.to(losses.dtype)
        weights = self.user_weights.to(losses.dtype) * present.to(losses.dtype)
        terms = 0.5 * torch.exp(-log_variances) * losses + 0.5 * log_variances
        return (weights * terms).sum()

    def task_weights(self) -> torch.Tensor:
        return (self.user_weights * 0.5 * torch.exp(-self.log_variances.detach())).clone()

    def variances(self) -> torch.Tensor:
        """Return the learned task variances ``sigma_t^2`` (in the task loss's units)."""
        return torch.exp(self.log_variances.detach()).clone()

    def optimizer_parameters(self) -> list[nn.Parameter]:
        return [self.log_variances]

    def epoch_diagnostics(self) -> dict[str, float]:
        values = super().epoch_diagnostics()
        for name, variance in zip(self.task_names, self.variances().tolist()):
            values[f"variance_{name}"] = variance
        return values
