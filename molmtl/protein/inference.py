"""Prediction over whole chains (windows stitched back) and evaluation against labels."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from molmtl.atomic_io import atomic_write_text
from molmtl.protein import metrics
from molmtl.protein.dataset import ProteinDataset, collate_proteins, stitch_windows
from molmtl.protein.labels import SS3_STATES, SS8_STATES
from molmtl.protein.model import ProteinModel
from molmtl.protein.record import ProteinRecord


@dataclass
class ChainPrediction:
    """Per-residue predictions of one chain.

    ``ss8_probabilities`` [L, 8] and ``ss3_probabilities`` [L, 3] follow the state orders
    ``HGIEBTSC`` and ``HEC``; ``rsa`` [L] is in [0, 1]; ``exposed_probability`` [L] is the
    probability that RSA >= the model's ``buried_threshold``.
    """

    id: str
    sequence: str
    ss8_probabilities: np.ndarray
    ss3_probabilities: np.ndarray
    rsa: np.ndarray
    exposed_probability: np.ndarray

    @property
    def ss8(self) -> np.ndarray:
        """Predicted 8-state class indices."""
        return self.ss8_probabilities.argmax(axis=1)

    @property
    def ss3(self) -> np.ndarray:
        """Predicted 3-state class indices."""
        return self.ss3_probabilities.argmax(axis=1)


@torch.no_grad()
def predict_records(
    model: ProteinModel, records: Sequence[ProteinRecord], batch_size: int = 16, device: str | torch.device = "cpu"
) -> list[ChainPrediction]:
    """Predict every residue of ``records``; chains longer than the model's window are stitched."""
    config = model.config
    dataset = ProteinDataset(records, window=config.window, stride=config.stride, physchem=config.physchem)
    was_training = model.training
    model.eval()
    model.to(device)
    per_record: dict[int, list[dict[str, np.ndarray]]] = {index: [] for index in range(len(records))}
    try:
        for first in range(0, len(dataset), batch_size):
            samples = [dataset[item] for item in range(first, min(first + batch_size, len(dataset)))]
            batch = collate_proteins(samples).to(device)
            outputs = model(batch.features, batch.padding_mask)
            ss8 = torch.softmax(outputs["ss8_logits"], dim=-1).cpu().numpy()
            ss3 = torch.softmax(outputs["ss3_logits"], dim=-1).cpu().numpy()
            rsa = outputs["rsa"].cpu().numpy()
            exposed = torch.sigmoid(outputs["exposed_logit"]).cpu().numpy()
            for row, sample in enumerate(samples):
                n = sample.features.shape[0]
                per_record[sample.record_index].append(
                    {"ss8": ss8[row, :n], "ss3": ss3[row, :n], "rsa": rsa[row, :n], "exposed": exposed[row, :n]}
                )
    finally:
        model.train(was_training)
    predictions = []
    for index, record in enumerate(records):
        windows = per_record[index]
        stitched = {
            key: stitch_windows(len(record), dataset.window, dataset.stride, [w[key] for w in windows])
            for key in ("ss8", "ss3", "rsa", "exposed")
        }
        predictions.append(
            ChainPrediction(record.id, record.sequence, stitched["ss8"], stitched["ss3"], stitched["rsa"],
                            stitched["exposed"])
        )
    return predictions


def evaluate_predictions(
    records: Sequence[ProteinRecord], predictions: Sequence[ChainPrediction], buried_threshold: float
) -> dict[str, object]:
    """Return Q3, Q8, SOV3 (mean over chains), per-class precision/recall, RSA r and MAE, and exposure accuracy.

    Residue-level metrics pool all labelled residues of all chains. A metric whose labels are
    absent from ``records`` is NaN.
    """
    def gather(name: str, fill: float) -> np.ndarray:
        parts = [getattr(r, name) if getattr(r, name) is not None else np.full(len(r), fill) for r in records]
        return np.concatenate(parts) if parts else np.zeros(0)

    true8, true3 = gather("ss8", -1).astype(np.int64), gather("ss3", -1).astype(np.int64)
    true_rsa = gather("rsa", np.nan)
    pred8 = np.concatenate([p.ss8 for p in predictions])
    pred3 = np.concatenate([p.ss3 for p in predictions])
    pred_rsa = np.concatenate([p.rsa for p in predictions])
    pred_exposed = np.concatenate([p.exposed_probability for p in predictions]) >= 0.5
    sov = [metrics.sov99(r.ss3, p.ss3) for r, p in zip(records, predictions) if r.ss3 is not None]
    return {
        "q3": metrics.accuracy(true3, pred3),
        "q8": metrics.accuracy(true8, pred8),
        "sov3": metrics.mean_over_chains(sov),
        "rsa_pearson_r": metrics.pearson_r(true_rsa, pred_rsa),
        "rsa_mae": metrics.mean_absolute_error(true_rsa, pred_rsa),
        "buried_exposed_accuracy": metrics.exposure_accuracy(true_rsa, pred_exposed, buried_threshold),
        "ss3_classes": metrics.precision_recall(true3, pred3, SS3_STATES),
        "ss8_classes": metrics.precision_recall(true8, pred8, SS8_STATES),
        "residues_ss3": int((true3 >= 0).sum()),
        "residues_ss8": int((true8 >= 0).sum()),
        "residues_rsa": int(np.isfinite(true_rsa).sum()),
        "chains": len(records),
    }


def write_predictions_csv(predictions: Sequence[ChainPrediction], path: str | Path) -> None:
    """Write one row per residue: id, position (1-based), residue, SS3, SS8, their probabilities, RSA, exposure."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["id", "position", "residue", "ss3", "ss8"]
        + [f"p_ss3_{state}" for state in SS3_STATES]
        + [f"p_ss8_{state}" for state in SS8_STATES]
        + ["rsa", "p_exposed", "exposure"]
    )
    for prediction in predictions:
        for position in range(len(prediction.sequence)):
            p3 = prediction.ss3_probabilities[position]
            p8 = prediction.ss8_probabilities[position]
            exposed = prediction.exposed_probability[position]
            writer.writerow(
                [prediction.id, position + 1, prediction.sequence[position], SS3_STATES[int(p3.argmax())],
                 SS8_STATES[int(p8.argmax())]]
                + [f"{value:.4f}" for value in p3]
                + [f"{value:.4f}" for value in p8]
                + [f"{prediction.rsa[position]:.4f}", f"{exposed:.4f}", "exposed" if exposed >= 0.5 else "buried"]
            )
    atomic_write_text(buffer.getvalue(), path)
