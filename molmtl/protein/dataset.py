"""Windowed per-residue datasets and padded batches for the protein models.

Long-sequence policy: a chain longer than ``window`` residues is cut into overlapping windows
of ``window`` residues that start every ``stride`` residues, with the last window aligned to
the chain's end so that every residue is covered. In training each window is one sample. At
prediction time :func:`stitch_windows` gives each residue the output of the window in which it
lies farthest from a window edge. So each residue gets roughly ``(window - stride) / 2``
residues of context or more on both sides, unless it is near a chain end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from molmtl.protein.alphabet import encode_sequence
from molmtl.protein.labels import MISSING
from molmtl.protein.record import ProteinRecord


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Return the start positions of the windows that cover a chain of ``length`` residues."""
    if window < 1 or stride < 1 or stride > window:
        raise ValueError(f"window ({window}) and stride ({stride}) must satisfy 1 <= stride <= window")
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] + window < length:
        starts.append(length - window)
    return starts


@dataclass
class ProteinSample:
    """One window of one chain: inputs and labels (missing: -1 / NaN)."""

    record_index: int
    start: int
    features: np.ndarray  # [L, F] float32
    ss8: np.ndarray  # [L] int64
    ss3: np.ndarray  # [L] int64
    rsa: np.ndarray  # [L] float64, NaN when missing


class ProteinBatch:
    """A padded batch of windows.

    * ``features`` [B, L, F] float32 and ``padding_mask`` [B, L] bool (True at real residues).
    * ``ss8`` and ``ss3`` [B, L] int64, -1 where a label is missing or the position is padding.
    * ``rsa`` [B, L] float32 with its presence mask ``rsa_mask`` [B, L] bool.
    * ``record_index`` and ``start`` [B] int64 locate each window in its dataset.
    """

    def __init__(self, samples: Sequence[ProteinSample]) -> None:
        if not samples:
            raise ValueError("cannot build a batch from zero samples")
        size = len(samples)
        length = max(sample.features.shape[0] for sample in samples)
        width = samples[0].features.shape[1]
        self.features = torch.zeros(size, length, width, dtype=torch.float32)
        self.padding_mask = torch.zeros(size, length, dtype=torch.bool)
        self.ss8 = torch.full((size, length), MISSING, dtype=torch.int64)
        self.ss3 = torch.full((size, length), MISSING, dtype=torch.int64)
        self.rsa = torch.zeros(size, length, dtype=torch.float32)
        self.rsa_mask = torch.zeros(size, length, dtype=torch.bool)
        for row, sample in enumerate(samples):
            n = sample.features.shape[0]
            self.features[row, :n] = torch.from_numpy(sample.features)
            self.padding_mask[row, :n] = True
            self.ss8[row, :n] = torch.from_numpy(sample.ss8)
            self.ss3[row, :n] = torch.from_numpy(sample.ss3)
            present = np.isfinite(sample.rsa)
            self.rsa[row, :n] = torch.from_numpy(np.where(present, sample.rsa, 0.0).astype(np.float32))
            self.rsa_mask[row, :n] = torch.from_numpy(present)
        self.record_index = torch.tensor([sample.record_index for sample in samples], dtype=torch.int64)
        self.start = torch.tensor([sample.start for sample in samples], dtype=torch.int64)

    _TENSORS = ("features", "padding_mask", "ss8", "ss3", "rsa", "rsa_mask", "record_index", "start")

    @property
    def num_graphs(self) -> int:
        """Number of windows in the batch (the name the trainer uses for the batch size)."""
        return int(self.features.shape[0])

    def __len__(self) -> int:
        return self.num_graphs

    def to(self, device: torch.device | str) -> "ProteinBatch":
        """Move every tensor to ``device`` in place and return the batch."""
        for name in self._TENSORS:
            setattr(self, name, getattr(self, name).to(device))
        return self


class ProteinDataset(torch.utils.data.Dataset):
    """Windows of labelled chains, ready for a ``DataLoader`` with :func:`collate_proteins`.

    ``window`` is the model's context in residues and ``stride`` the step between windows
    (default: half a window).
    """

    def __init__(
        self,
        records: Sequence[ProteinRecord],
        window: int = 512,
        stride: int | None = None,
        physchem: bool = True,
    ) -> None:
        self.records = list(records)
        if not self.records:
            raise ValueError("a ProteinDataset needs at least one chain")
        self.window = int(window)
        self.stride = int(stride) if stride else max(1, self.window // 2)
        self.physchem = physchem
        self._features = [encode_sequence(record.sequence, physchem=physchem) for record in self.records]
        self._index = [
            (record_index, start)
            for record_index, record in enumerate(self.records)
            for start in window_starts(len(record), self.window, self.stride)
        ]

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, item: int) -> ProteinSample:
        record_index, start = self._index[item]
        record = self.records[record_index]
        stop = min(start + self.window, len(record))
        length = len(record)
        missing_classes = np.full(length, MISSING, dtype=np.int64)
        ss8 = record.ss8 if record.ss8 is not None else missing_classes
        ss3 = record.ss3 if record.ss3 is not None else missing_classes
        rsa = record.rsa if record.rsa is not None else np.full(length, np.nan)
        return ProteinSample(
            record_index,
            start,
            self._features[record_index][start:stop],
            ss8[start:stop],
            ss3[start:stop],
            rsa[start:stop],
        )

    def label_count(self, name: str) -> int:
        """Return how many residues carry label ``name`` (``ss8``, ``ss3`` or ``rsa``) over all chains."""
        return sum(record.label_count(name) for record in self.records)


def collate_proteins(samples: Sequence[ProteinSample]) -> ProteinBatch:
    """Collate samples into a :class:`ProteinBatch` (the ``collate_fn`` of a ``DataLoader``)."""
    return ProteinBatch(samples)


def stitch_windows(
    length: int, window: int, stride: int, window_outputs: Sequence[np.ndarray]
) -> np.ndarray:
    """Combine per-window outputs ``[n_i, ...]`` into one ``[length, ...]`` array.

    Each residue takes its value from the window in which it lies farthest from a window
    edge; ties go to the earlier window. Windows must come in the order of :func:`window_starts`.
    """
    starts = window_starts(length, window, stride)
    if len(starts) != len(window_outputs):
        raise ValueError(f"expected {len(starts)} window outputs for length {length}, got {len(window_outputs)}")
    first = np.asarray(window_outputs[0])
    result = np.zeros((length, *first.shape[1:]), dtype=first.dtype)
    best = np.full(length, -1, dtype=np.int64)
    for start, output in zip(starts, window_outputs):
        output = np.asarray(output)
        n = output.shape[0]
        positions = np.arange(n)
        margin = np.minimum(positions, n - 1 - positions)
        # A chain edge is not a window edge, so residues near it count as central.
        if start == 0:
            margin = np.where(positions < n // 2, n, margin)
        if start + n >= length:
            margin = np.where(positions >= n // 2, n, margin)
        target = slice(start, start + n)
        better = margin > best[target]
        result[target][better] = output[better]
        best[target] = np.where(better, margin, best[target])
    return result
