"""GradNorm: balance tasks by the gradient norms they produce on the shared encoder.

Chen, Badrinarayanan, Lee and Rabinovich, "GradNorm: gradient normalization for adaptive
loss balancing in deep multitask networks", ICML 2018.

With task weights ``w_t`` and ``W`` the parameters of the shared encoder's last layer:

* ``G_t = || grad_W (w_t L_t) || = w_t g_t`` with ``g_t = || grad_W L_t ||``;
* ``Lt_t = L_t / L_t(0)`` is the inverse training rate and ``r_t = Lt_t / mean(Lt)``;
* the target norm is ``mean(G) * r_t ** alpha`` (treated as a constant);
* the weights follow the gradient of ``sum_t |G_t - target_t|``, then are renormalised so
  that they sum to the sum of the user weights.

Because ``G_t`` is linear in ``w_t``, the gradient of the GradNorm loss with respect to
``w_t`` is ``sign(G_t - target_t) * g_t`` and needs no second backward pass.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from molmtl.training import distributed
from molmtl.training.weighting.base import TaskWeighting


class GradNormWeighting(TaskWeighting):
    """Learned task weights that keep each task's gradient norm in proportion to its training rate.

    ``alpha`` sets how strongly slow tasks are pushed (0 equalises the norms; the paper uses
    0.12 to 3). ``learning_rate`` is the step size of the Adam optimiser of the weights.
    ``L_t(0)`` is the first non-zero loss seen for each task.

    Diagnostics per epoch and task: the mean of ``G_t / target_t`` (``gradnorm_ratio_<task>``)
    and the fraction of steps where that ratio lies in [0.5, 2]
    (``gradnorm_within_factor2_<task>``). Single-batch norms are noisy, so a few steps outside
    the band are expected even when the weights track the targets.
    """

    name = "gradnorm"
    needs_task_gradient_norms = True

    def __init__(
        self,
        task_names,
        user_weights,
        alpha: float = 1.5,
        learning_rate: float = 0.025,
        min_weight: float = 1e-3,
    ) -> None:
        super().__init__(task_names, user_weights)
        if alpha < 0:
            raise ValueError(f"GradNorm alpha must be >= 0, got {alpha}")
        self.alpha = float(alpha)
        self.min_weight = float(min_weight)
        self.weights = nn.Parameter(self.user_weights.clone(), requires_grad=False)
        self.register_buffer(
            "initial_losses", torch.full((len(self.task_names),), float("nan"), dtype=torch.float64)
        )
        self._optimizer = torch.optim.Adam([self.weights], lr=learning_rate)

    def combine(self, losses: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        return (self.weights.detach().to(losses.dtype) * losses).sum()

    def task_weights(self) -> torch.Tensor:
        return self.weights.detach().clone()

    @torch.no_grad()
    def after_backward(
        self, losses: torch.Tensor, present: torch.Tensor, gradient_norms: torch.Tensor | None
    ) -> None:
        if gradient_norms is None:
            raise ValueError("GradNorm needs the per-task gradient norms on the shared encoder's last layer")
        device = self.weights.device
        losses = losses.detach().to(device=device, dtype=torch.float64)
        norms = gradient_norms.detach().to(device=device, dtype=torch.float64)
        present = present.to(device=device, dtype=torch.float64)
        # Average over ranks the values of the ranks where the task had labels, so that every
        # rank takes the same step and the weights stay identical.
        stacked = torch.stack([losses * present, norms * present, present])
        distributed.all_reduce_sum(stacked)
        counts = stacked[2]
        usable = (counts > 0) & self.active
        safe_counts = counts.clamp(min=1.0)
        losses = stacked[0] / safe_counts
        norms = stacked[1] / safe_counts

        first = usable & torch.isnan(self.initial_losses) & (losses > 0)
        self.initial_losses[first] = losses[first]
        usable = usable & ~torch.isnan(self.initial_losses) & (self.initial_losses > 0)
        if int(usable.sum()) < 2:
            return

        weights = self.weights.detach()
        scaled_norms = weights * norms
        inverse_rates = losses / self.initial_losses
        relative_rates = inverse_rates / inverse_rates[usable].mean()
        targets = scaled_norms[usable].mean() * relative_rates.pow(self.alpha)

        gradient = torch.zeros_like(weights)
        gradient[usable] = torch.sign(scaled_norms - targets)[usable] * norms[usable]
        self._optimizer.zero_grad(set_to_none=False)
        self.weights.grad = gradient
        self._optimizer.step()
        self.weights.grad = None

        active = self.active
        self.weights.data[active] = self.weights.data[active].clamp(min=self.min_weight)
        self.weights.data[~active] = 0.0
        total = self.user_weights[active].sum()
        self.weights.data[active] *= total / self.weights.data[active].sum()

        for index in torch.nonzero(usable).flatten().tolist():
            name = self.task_names[index]
            self._record(f"gradnorm_norm_{name}", float(scaled_norms[index]))
            self._record(f"gradnorm_target_{name}", float(targets[index]))
            ratio = float(scaled_norms[index] / targets[index])
            self._record(f"gradnorm_ratio_{name}", ratio)
            self._record(f"gradnorm_within_factor2_{name}", float(0.5 <= ratio <= 2.0))

    def get_extra_state(self) -> Any:
        return {"optimizer": self._optimizer.state_dict(), "alpha": self.alpha}

    def set_extra_state(self, state: Any) -> None:
        self.alpha = float(state["alpha"])
        self._optimizer.load_state_dict(state["optimizer"])
