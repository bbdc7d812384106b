"""Per-residue metrics for secondary structure and solvent accessibility.

* Q3 / Q8: fraction of labelled residues whose predicted state is correct.
* Per-class precision and recall.
* SOV'99 (segment overlap), following Zemla, Venclovas, Fidelis & Rost, Proteins 34, 220
  (1999): for each state, every pair of overlapping observed and predicted segments scores
  ``(minov + delta) / maxov * len(observed)``, with
  ``delta = min(maxov - minov, minov, len(observed) // 2, len(predicted) // 2)``. The sum over
  pairs and states is divided by the total length of the observed segments, where an observed
  segment that overlaps no predicted segment of its state counts its length once. Residues
  with a missing label split segments and are not scored.
* RSA: Pearson r and mean absolute error; buried/exposed accuracy at a threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from molmtl.protein.labels import MISSING


def accuracy(true: np.ndarray, predicted: np.ndarray) -> float:
    """Return the fraction of labelled residues (``true >= 0``) predicted correctly (NaN if none)."""
    true = np.asarray(true)
    present = true >= 0
    if not present.any():
        return float("nan")
    return float((np.asarray(predicted)[present] == true[present]).mean())


def precision_recall(true: np.ndarray, predicted: np.ndarray, states: str) -> dict[str, dict[str, float]]:
    """Return ``{state: {"precision", "recall", "support"}}`` over labelled residues."""
    true = np.asarray(true)
    predicted = np.asarray(predicted)
    present = true >= 0
    true, predicted = true[present], predicted[present]
    result = {}
    for index, state in enumerate(states):
        hits = float(((predicted == index) & (true == index)).sum())
        predicted_count = float((predicted == index).sum())
        support = float((true == index).sum())
        result[state] = {
            "precision": hits / predicted_count if predicted_count else float("nan"),
            "recall": hits / support if support else float("nan"),
            "support": support,
        }
    return result


def _segments(states: np.ndarray, state: int) -> list[tuple[int, int]]:
    """Return [start, stop) of the runs where ``states == state``."""
    inside = np.concatenate([[False], states == state, [False]])
    changes = np.flatnonzero(inside[1:] != inside[:-1])
    return list(zip(changes[0::2].tolist(), changes[1::2].tolist()))


def sov99(true: np.ndarray, predicted: np.ndarray, n_states: int = 3) -> float:
    """Return SOV'99 in [0, 1] for one chain (NaN when no residue is labelled).

    ``true`` and ``predicted`` are class indices; ``true == -1`` marks missing labels, which
    break segments in both strings.
    """
    true = np.asarray(true, dtype=np.int64).copy()
    predicted = np.asarray(predicted, dtype=np.int64).copy()
    missing = true == MISSING
    predicted[missing] = MISSING
    score = 0.0
    normaliser = 0
    for state in range(n_states):
        predicted_segments = _segments(predicted, state)
        for start, stop in _segments(true, state):
            length = stop - start
            overlapping = [(s, e) for s, e in predicted_segments if s < stop and e > start]
            if not overlapping:
                normaliser += length
                continue
            for other_start, other_stop in overlapping:
                normaliser += length
                minov = min(stop, other_stop) - max(start, other_start)
                maxov = max(stop, other_stop) - min(start, other_start)
                delta = min(maxov - minov, minov, length // 2, (other_stop - other_start) // 2)
                score += (minov + delta) / maxov * length
    return score / normaliser if normaliser else float("nan")


def pearson_r(true: np.ndarray, predicted: np.ndarray) -> float:
    """Return the Pearson correlation over finite ``true`` values (NaN for fewer than two)."""
    true = np.asarray(true, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    present = np.isfinite(true)
    if present.sum() < 2 or np.std(true[present]) == 0 or np.std(predicted[present]) == 0:
        return float("nan")
    return float(np.corrcoef(true[present], predicted[present])[0, 1])


def mean_absolute_error(true: np.ndarray, predicted: np.ndarray) -> float:
    """Return the MAE over finite ``true`` values (NaN when there are none)."""
    true = np.asarray(true, dtype=np.float64)
    present = np.isfinite(true)
    if not present.any():
        return float("nan")
    return float(np.abs(np.asarray(predicted, dtype=np.float64)[present] - true[present]).mean())


def exposure_accuracy(true_rsa: np.ndarray, predicted_exposed: np.ndarray, threshold: float) -> float:
    """Return the buried/exposed accuracy: exposed means RSA >= ``threshold``."""
    true_rsa = np.asarray(true_rsa, dtype=np.float64)
    present = np.isfinite(true_rsa)
    if not present.any():
        return float("nan")
    return float(((true_rsa[present] >= threshold) == np.asarray(predicted_exposed, dtype=bool)[present]).mean())


def mean_over_chains(values: Sequence[float]) -> float:
    """Return the mean of the finite values (NaN when there are none)."""
    finite = [value for value in values if np.isfinite(value)]
    return float(np.mean(finite)) if finite else float("nan")
