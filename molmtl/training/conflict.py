"""Gradient-conflict diagnostic: cosines between the tasks' gradients on the shared parameters.

A negative cosine between two tasks means that a step that lowers one task's loss raises the
other's (to first order), the signature of negative transfer.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch


def pairwise_cosines(
    names: Sequence[str], gradients: Sequence[torch.Tensor | None]
) -> dict[tuple[str, str], float]:
    """Return the cosine for each pair of tasks whose gradients are both non-zero."""
    cosines: dict[tuple[str, str], float] = {}
    for (name_a, grad_a), (name_b, grad_b) in itertools.combinations(zip(names, gradients), 2):
        if grad_a is None or grad_b is None:
            continue
        norm_a = torch.linalg.vector_norm(grad_a)
        norm_b = torch.linalg.vector_norm(grad_b)
        if norm_a == 0 or norm_b == 0:
            continue
        cosines[(name_a, name_b)] = float(torch.dot(grad_a, grad_b) / (norm_a * norm_b))
    return cosines


def cosine_column(name_a: str, name_b: str) -> str:
    """Return the ``metrics.csv`` column of the cosine between two tasks."""
    return f"cos_{name_a}__{name_b}"
