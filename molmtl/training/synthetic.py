"""A synthetic multi-task regression problem: the smallest complete use of the trainer.

Inputs ``x`` are Gaussian vectors. Each task's target is the output of a fixed random
"teacher" network plus Gaussian label noise of standard deviation ``noise[t]``. The student
has the same architecture (wider), so it can reach the noise floor, where the residual
variance of task ``t`` is ``noise[t] ** 2``. With ``conflict=True`` both tasks read one
shared output head and the second target is the negative of the first, so their gradients
on the encoder point in opposite directions.

Run ``python -m molmtl.training.synthetic --out RUN_DIR`` (also under ``torchrun``) to
train it from the command line.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from molmtl.training.task import MultiTaskProblem, Task, TaskOutput


class SyntheticModel(nn.Module):
    """Shared tanh encoder (two linear layers) and one linear head per task (or one shared head)."""

    def __init__(self, num_inputs: int, num_tasks: int, hidden: int = 32, shared_head: bool = False) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(num_inputs, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh()
        )
        self.shared_head = shared_head
        self.heads = nn.Linear(hidden, 1 if shared_head else num_tasks)
        self.num_tasks = num_tasks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return predictions ``[batch, num_tasks]``."""
        output = self.heads(self.encoder(x))
        return output.expand(-1, self.num_tasks) if self.shared_head else output


class SyntheticDataset(Dataset):
    """Samples ``{"x": [d], "y": [T], "mask": [T]}`` with targets from a teacher network plus noise.

    ``label_fraction[t]`` is the probability that task ``t`` is labelled in a sample.
    """

    def __init__(
        self,
        num_samples: int,
        noise: Sequence[float] = (0.1, 0.3),
        num_inputs: int = 8,
        conflict: bool = False,
        label_fraction: Sequence[float] | None = None,
        seed: int = 0,
        teacher_seed: int = 1234,
    ) -> None:
        num_tasks = len(noise)
        teacher_generator = torch.Generator().manual_seed(teacher_seed)
        teacher = SyntheticModel(num_inputs, num_tasks, hidden=16, shared_head=conflict).double()
        with torch.no_grad():
            for parameter in teacher.parameters():
                fan_in = parameter.shape[-1] if parameter.dim() > 1 else 1
                parameter.copy_(
                    torch.randn(parameter.shape, generator=teacher_generator, dtype=torch.float64)
                    / fan_in**0.5
                )
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(num_samples, num_inputs, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            clean = teacher(self.x)
        if conflict:
            signs = torch.tensor([(-1.0) ** t for t in range(num_tasks)], dtype=torch.float64)
            clean = clean * signs
        noise_tensor = torch.tensor(list(noise), dtype=torch.float64)
        self.y = clean + noise_tensor * torch.randn(
            num_samples, num_tasks, generator=generator, dtype=torch.float64
        )
        fractions = torch.tensor(
            list(label_fraction) if label_fraction is not None else [1.0] * num_tasks, dtype=torch.float64
        )
        self.mask = torch.rand(num_samples, num_tasks, generator=generator, dtype=torch.float64) < fractions
        self.y[~self.mask] = 0.0

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "y": self.y[index], "mask": self.mask[index]}


class SyntheticRegressionTask(Task):
    """Mean squared error of output column ``index`` on the labelled samples."""

    def __init__(self, name: str, index: int, weight: float = 1.0) -> None:
        super().__init__(name, weight)
        self.index = index

    def evaluate(self, outputs: Mapping[str, torch.Tensor], batch: Any) -> TaskOutput:
        prediction = outputs["prediction"][:, self.index]
        target = batch["y"][:, self.index].to(prediction.dtype)
        mask = batch["mask"][:, self.index]
        error = (prediction - target)[mask]
        count = torch.tensor(error.numel(), device=prediction.device)
        if error.numel() == 0:
            zero = prediction.sum() * 0.0
            return TaskOutput(zero, count, zero.detach(), zero.detach())
        squared = error.pow(2)
        return TaskOutput(squared.mean(), count, error.abs().sum().detach(), squared.sum().detach())

    def label_count(self, dataset: Any) -> int:
        return int(dataset.mask[:, self.index].sum())


class SyntheticProblem(MultiTaskProblem):
    """Run :class:`SyntheticModel` on ``batch["x"]``.

    The encoder is shared, and its second linear layer is the last shared layer.
    """

    def __init__(self, tasks: Sequence[Task]) -> None:
        self.tasks = list(tasks)

    def forward(self, model: nn.Module, batch: Any, training: bool) -> dict[str, torch.Tensor]:
        return {"prediction": model(batch["x"])}

    def shared_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        return list(model.encoder.parameters())

    def last_shared_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        return list(model.encoder[2].parameters())

    def batch_size(self, batch: Any) -> int:
        return int(batch["x"].shape[0])

    def move_batch(self, batch: Any, device: torch.device) -> Any:
        return {key: value.to(device) for key, value in batch.items()}


def build_synthetic(
    noise: Sequence[float] = (0.1, 0.3),
    conflict: bool = False,
    num_train: int = 1024,
    num_valid: int = 256,
    seed: int = 0,
    weights: Sequence[float] | None = None,
):
    """Return ``(model, problem, train_set, valid_set)`` for a synthetic problem (float64 model)."""
    torch.manual_seed(seed)
    num_tasks = len(noise)
    weights = list(weights) if weights is not None else [1.0] * num_tasks
    train_set = SyntheticDataset(num_train, noise, conflict=conflict, seed=seed + 1)
    valid_set = SyntheticDataset(num_valid, noise, conflict=conflict, seed=seed + 2)
    model = SyntheticModel(train_set.x.shape[1], num_tasks, shared_head=conflict).double()
    tasks = [SyntheticRegressionTask(f"task{t}", t, weights[t]) for t in range(num_tasks)]
    return model, SyntheticProblem(tasks), train_set, valid_set


def synthetic_config(epochs: int, batch_size: int = 32, lr: float = 3e-3, seed: int = 0, device: str = "cpu"):
    """Return the trainer settings that :func:`main` uses (constant learning rate, no files besides logs)."""
    from molmtl.training.config import TrainerConfig

    return TrainerConfig(
        max_epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
        progress=False,
        plots=False,
        tensorboard=False,
        warmup_epochs=0.0,
        schedule="constant",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Train the synthetic problem from the command line (works under ``torchrun``)."""
    from molmtl.training import distributed
    from molmtl.training.trainer import Trainer

    parser = argparse.ArgumentParser(description="Train the synthetic two-task regression problem.")
    parser.add_argument("--out", required=True, help="run folder")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32, help="batch size per rank")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--weighting", default="fixed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-train", type=int, default=1024)
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    args = parser.parse_args(argv)

    device = distributed.init_from_environment("cpu")
    try:
        model, problem, train_set, valid_set = build_synthetic(num_train=args.num_train, seed=args.seed)
        config = synthetic_config(args.epochs, args.batch_size, args.lr, args.seed, device=str(device))
        trainer = Trainer(
            model, problem, train_set, valid_set, config=config, weighting=args.weighting, run_dir=args.out
        )
        trainer.fit(resume=args.resume)
    finally:
        distributed.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
