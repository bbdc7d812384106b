"""Errors of a molecular model on a dataset: MAE and RMSE of every quantity with labels."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from molmtl.data import keys

#: Quantity -> unit, in the order of the printed table.
QUANTITIES: dict[str, str] = {
    "energy": "eV",
    "energy_per_atom": "eV/atom",
    "forces": "eV/Angstrom",
    "dipole": "e*Angstrom",
    "dipole_magnitude": "e*Angstrom",
    "charges": "e",
    "stress": "eV/Angstrom^3",
}


@dataclass
class Predictions:
    """Reference and predicted values of each quantity, flattened over labelled elements."""

    reference: dict[str, list[np.ndarray]] = field(default_factory=dict)
    predicted: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, name: str, reference: torch.Tensor, predicted: torch.Tensor) -> None:
        """Append one batch's labelled values of ``name``."""
        self.reference.setdefault(name, []).append(reference.detach().cpu().double().numpy().reshape(-1))
        self.predicted.setdefault(name, []).append(predicted.detach().cpu().double().numpy().reshape(-1))

    def arrays(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(reference, predicted)`` of ``name`` (empty arrays when it has no labels)."""
        if name not in self.reference:
            return np.zeros(0), np.zeros(0)
        return np.concatenate(self.reference[name]), np.concatenate(self.predicted[name])

    def errors(self) -> dict[str, dict[str, Any]]:
        """Return ``{quantity: {"mae", "rmse", "count", "unit"}}`` for quantities with labels."""
        table = {}
        for name, unit in QUANTITIES.items():
            reference, predicted = self.arrays(name)
            if reference.size == 0:
                continue
            error = predicted - reference
            table[name] = {
                "mae": float(np.mean(np.abs(error))),
                "rmse": float(np.sqrt(np.mean(error**2))),
                "count": int(reference.size),
                "unit": unit,
            }
        return table


def predict_dataset(
    model: nn.Module,
    dataset: Any,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> Predictions:
    """Run ``model`` over ``dataset`` and collect labelled values of every quantity it predicts.

    Forces are computed when the dataset has force labels and stress when it has stress
    labels. The model is put in evaluation mode.
    """
    from torch.utils.data import DataLoader
    from torch_geometric.data import Batch

    counts = dataset.label_counts()
    heads = set(getattr(model, "heads", {}).keys())
    compute_forces = counts.get(keys.FORCES, 0) > 0 and "energy" in heads
    compute_stress = counts.get(keys.STRESS, 0) > 0 and "energy" in heads
    model = model.to(device).eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=Batch.from_data_list)
    if progress:
        from tqdm.auto import tqdm

        loader = tqdm(loader, desc="evaluating", leave=False)
    result = Predictions()
    for batch in loader:
        batch = batch.to(device)
        with torch.set_grad_enabled(compute_forces or compute_stress):
            outputs = model(batch, compute_forces=compute_forces, compute_stress=compute_stress)
        _collect(result, outputs, batch)
    return result


def _collect(result: Predictions, outputs: Mapping[str, torch.Tensor], batch: Any) -> None:
    atom_batch = batch.batch
    num_atoms = torch.bincount(atom_batch, minlength=batch.num_graphs).double()

    def graph_mask(label: str) -> torch.Tensor:
        return batch[keys.mask_key(label)].reshape(-1).bool()

    if keys.ENERGY in outputs:
        mask = graph_mask(keys.ENERGY)
        predicted = outputs[keys.ENERGY].reshape(-1).double()
        reference = batch[keys.ENERGY].reshape(-1).double()
        result.add("energy", reference[mask], predicted[mask])
        result.add("energy_per_atom", (reference / num_atoms)[mask], (predicted / num_atoms)[mask])
    if keys.FORCES in outputs:
        mask = graph_mask(keys.FORCES)[atom_batch]
        result.add("forces", batch[keys.FORCES][mask], outputs[keys.FORCES][mask])
    if keys.DIPOLE in outputs:
        mask = graph_mask(keys.DIPOLE)
        reference = batch[keys.DIPOLE].reshape(-1, 3)[mask].double()
        predicted = outputs[keys.DIPOLE].reshape(-1, 3)[mask].double()
        result.add("dipole", reference, predicted)
        result.add(
            "dipole_magnitude",
            torch.linalg.vector_norm(reference, dim=-1),
            torch.linalg.vector_norm(predicted, dim=-1),
        )
    if keys.CHARGES in outputs:
        mask = graph_mask(keys.CHARGES)[atom_batch]
        result.add("charges", batch[keys.CHARGES].reshape(-1)[mask], outputs[keys.CHARGES].reshape(-1)[mask])
    if keys.STRESS in outputs:
        mask = graph_mask(keys.STRESS)
        result.add(
            "stress", batch[keys.STRESS].reshape(-1, 9)[mask], outputs[keys.STRESS].reshape(-1, 9)[mask]
        )


def format_error_table(table: Mapping[str, Mapping[str, Any]]) -> str:
    """Return the error table as aligned text (four significant digits, exponents kept)."""
    lines = [f"{'quantity':<18} {'unit':<15} {'MAE':>12} {'RMSE':>12} {'count':>10}"]
    for name, row in table.items():
        mae = "nan" if math.isnan(row["mae"]) else f"{row['mae']:.4g}"
        rmse = "nan" if math.isnan(row["rmse"]) else f"{row['rmse']:.4g}"
        lines.append(f"{name:<18} {row['unit']:<15} {mae:>12} {rmse:>12} {row['count']:>10}")
    return "\n".join(lines)


def write_parity_plots(predictions: Predictions, folder) -> list:
    """Write parity plots of energy per atom, force components and dipole components that have labels."""
    from pathlib import Path

    from molmtl.training.plots import plot_parity

    folder = Path(folder)
    written = []
    for name, title in (
        ("energy_per_atom", "energy per atom"),
        ("forces", "force components"),
        ("dipole", "dipole components"),
    ):
        reference, predicted = predictions.arrays(name)
        if reference.size:
            written.append(
                plot_parity(reference, predicted, title, QUANTITIES[name], folder / f"parity_{name}.png")
            )
    return written
