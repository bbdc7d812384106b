"""``ProteinRecord``: one chain with per-residue labels, each of which may be missing."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from molmtl.protein.alphabet import normalize_sequence
from molmtl.protein.labels import MISSING, SS3_STATES, SS8_STATES, indices_to_string, ss8_to_ss3


@dataclass
class ProteinRecord:
    """A protein chain and its per-residue labels.

    ``ss8`` and ``ss3`` contain class indices into :data:`SS8_STATES` / :data:`SS3_STATES`, with
    :data:`MISSING` (-1) where a label is absent. ``rsa`` contains relative solvent accessibility in
    [0, 1] with NaN where absent. An array left as ``None`` means the task has no labels for this
    chain at all. When only ``ss8`` is given, ``ss3`` is derived from it (H,G,I->H; E,B->E; rest->C).
    ``asa`` (Å^2) is kept when the source gives absolute accessibility.
    """

    id: str
    sequence: str
    ss8: np.ndarray | None = None
    ss3: np.ndarray | None = None
    rsa: np.ndarray | None = None
    asa: np.ndarray | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sequence = normalize_sequence(self.sequence, name=self.id)
        length = len(self.sequence)
        for name in ("ss8", "ss3", "rsa", "asa"):
            values = getattr(self, name)
            if values is None:
                continue
            values = np.asarray(values, dtype=np.float64 if name in ("rsa", "asa") else np.int64)
            if values.shape != (length,):
                raise ValueError(
                    f"{self.id}: {name} has {values.shape[0] if values.ndim else 0} entries but the "
                    f"sequence has {length} residues; labels must have one entry per residue"
                )
            setattr(self, name, values)
        if self.ss8 is not None and self.ss3 is None:
            self.ss3 = ss8_to_ss3(self.ss8)
        if self.rsa is not None:
            finite = self.rsa[np.isfinite(self.rsa)]
            if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
                raise ValueError(
                    f"{self.id}: RSA values must lie in [0, 1], got range "
                    f"[{finite.min():.3g}, {finite.max():.3g}]; pass absolute ASA through relative_accessibility"
                )

    def __len__(self) -> int:
        return len(self.sequence)

    def mask_residues(self, keep: np.ndarray) -> None:
        """Mark every label of residues where ``keep`` is False as missing."""
        keep = np.asarray(keep, dtype=bool)
        for name in ("ss8", "ss3"):
            values = getattr(self, name)
            if values is not None:
                values[~keep] = MISSING
        for name in ("rsa", "asa"):
            values = getattr(self, name)
            if values is not None:
                values[~keep] = np.nan

    def label_count(self, name: str) -> int:
        """Return how many residues carry label ``name`` (``ss8``, ``ss3``, ``rsa``, ``asa``)."""
        values = getattr(self, name)
        if values is None:
            return 0
        if name in ("rsa", "asa"):
            return int(np.isfinite(values).sum())
        return int((values >= 0).sum())

    def ss8_string(self) -> str | None:
        """Return the 8-state labels as a string, ``?`` where missing."""
        return None if self.ss8 is None else indices_to_string(self.ss8, SS8_STATES)

    def ss3_string(self) -> str | None:
        """Return the 3-state labels as a string, ``?`` where missing."""
        return None if self.ss3 is None else indices_to_string(self.ss3, SS3_STATES)
