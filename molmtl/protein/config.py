"""YAML configuration of ``molmtl protein train``.

Example (all keys except ``data.train`` are optional)::

    data:
      train:
        - path: CB513.csv              # .csv, .dssp, or a folder of .dssp files
        - structures: my_pdb_folder/   # labels derived from PDB/mmCIF files with mdtraj
        - fasta: seqs.fasta            # FASTA plus FASTA-style label files
          ss8: seqs.ss8
          rsa: seqs.rsa
      valid: []                        # same kinds of sources; when empty, valid_fraction
      valid_fraction: 0.1              # of the training chains is held out (split by chain)
      split_seed: 0
      mask_columns: [disorder]         # CSV 0/1 columns whose zeros mark residues without labels
    model:                             # ProteinModelConfig fields
      encoder: bilstm                  # or conv_transformer
      hidden: 128
      window: 512
    tasks: {ss8: 1.0, rsa: 1.0, buried: 0.5}   # ss8, ss3, rsa, buried with their weights
    weighting: uncertainty             # fixed, uncertainty or gradnorm
    trainer:                           # TrainerConfig fields of the multi-task trainer
      max_epochs: 30
      batch_size: 16
      lr: 0.001
    run_dir: runs/protein

Relative paths are resolved against the folder of the YAML file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from molmtl.protein.model import ProteinModelConfig
from molmtl.protein.record import ProteinRecord

_SOURCE_KEYS = {"path", "structures", "fasta", "ss8", "ss3", "rsa"}
_TOP_KEYS = {"data", "model", "tasks", "weighting", "trainer", "run_dir"}
_DATA_KEYS = {"train", "valid", "valid_fraction", "split_seed", "mask_columns"}


@dataclass
class ProteinTrainConfig:
    """Parsed training configuration (see the module docstring for the YAML layout)."""

    train_sources: list[dict[str, Any]]
    valid_sources: list[dict[str, Any]] = field(default_factory=list)
    valid_fraction: float = 0.1
    split_seed: int = 0
    mask_columns: tuple[str, ...] = ("disorder",)
    model: ProteinModelConfig = field(default_factory=ProteinModelConfig)
    tasks: dict[str, float] = field(default_factory=lambda: {"ss8": 1.0, "rsa": 1.0, "buried": 0.5})
    weighting: str = "uncertainty"
    trainer: dict[str, Any] = field(default_factory=dict)
    run_dir: Path = Path("runs/protein")

    @classmethod
    def from_yaml(cls, path: str | Path) -> "ProteinTrainConfig":
        """Read and check a YAML config; relative paths are taken from the file's folder."""
        import yaml

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"config file not found: {path}")
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls.from_dict(values, base=path.parent)

    @classmethod
    def from_dict(cls, values: dict[str, Any], base: Path = Path(".")) -> "ProteinTrainConfig":
        """Build a config from a mapping with the YAML layout."""
        unknown = sorted(set(values) - _TOP_KEYS)
        if unknown:
            raise ValueError(f"unknown config sections {unknown}; valid sections are {sorted(_TOP_KEYS)}")
        data = values.get("data") or {}
        unknown = sorted(set(data) - _DATA_KEYS)
        if unknown:
            raise ValueError(f"unknown keys in 'data': {unknown}; valid keys are {sorted(_DATA_KEYS)}")
        train = [_resolve_source(source, base) for source in data.get("train") or []]
        if not train:
            raise ValueError("the config needs at least one training source under data.train")
        valid = [_resolve_source(source, base) for source in data.get("valid") or []]
        fraction = float(data.get("valid_fraction", 0.1))
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"data.valid_fraction must lie in [0, 1), got {fraction}")
        run_dir = Path(values.get("run_dir", "runs/protein"))
        return cls(
            train_sources=train,
            valid_sources=valid,
            valid_fraction=fraction,
            split_seed=int(data.get("split_seed", 0)),
            mask_columns=tuple(data.get("mask_columns", ("disorder",))),
            model=ProteinModelConfig.from_dict(values.get("model") or {}),
            tasks={str(k): float(v) for k, v in (values.get("tasks") or {"ss8": 1.0, "rsa": 1.0, "buried": 0.5}).items()},
            weighting=str(values.get("weighting", "uncertainty")),
            trainer=dict(values.get("trainer") or {}),
            run_dir=run_dir if run_dir.is_absolute() else base / run_dir,
        )


def _resolve_source(source: Any, base: Path) -> dict[str, Any]:
    if isinstance(source, str):
        source = {"path": source}
    if not isinstance(source, dict):
        raise ValueError(f"a data source must be a path or a mapping, got {source!r}")
    unknown = sorted(set(source) - _SOURCE_KEYS)
    if unknown:
        raise ValueError(f"unknown keys {unknown} in data source {source}; valid keys are {sorted(_SOURCE_KEYS)}")
    kinds = [key for key in ("path", "structures", "fasta") if key in source]
    if len(kinds) != 1:
        raise ValueError(f"data source {source} needs exactly one of 'path', 'structures' or 'fasta'")
    resolved = {}
    for key, value in source.items():
        value = Path(value)
        resolved[key] = value if value.is_absolute() else base / value
    return resolved


def load_source(source: dict[str, Any], mask_columns: tuple[str, ...] = ("disorder",)) -> list[ProteinRecord]:
    """Read the chains of one data source (a resolved mapping from :class:`ProteinTrainConfig`)."""
    from molmtl.protein.readers import read_fasta_with_labels, read_labels
    from molmtl.protein.structure_labels import find_structures, labels_from_structure

    if "path" in source:
        return read_labels(source["path"], mask_columns=mask_columns)
    if "structures" in source:
        return [record for file in find_structures(source["structures"]) for record in labels_from_structure(file)]
    return read_fasta_with_labels(source["fasta"], ss8=source.get("ss8"), ss3=source.get("ss3"), rsa=source.get("rsa"))


def split_by_chain(
    records: list[ProteinRecord], fraction: float, seed: int
) -> tuple[list[ProteinRecord], list[ProteinRecord]]:
    """Shuffle chains with ``seed`` and hold out ``fraction`` of them (at least one when fraction > 0).

    Chains with identical sequences go to the same side, so no sequence is in both sets.
    """
    if fraction <= 0.0:
        return list(records), []
    groups: dict[str, list[ProteinRecord]] = {}
    for record in records:
        groups.setdefault(record.sequence, []).append(record)
    keys = list(groups)
    order = np.random.default_rng(seed).permutation(len(keys))
    held_out = max(1, round(fraction * len(keys)))
    if held_out >= len(keys):
        raise ValueError(f"cannot hold out {fraction:.0%} of {len(keys)} distinct chains and keep any for training")
    valid_keys = {keys[i] for i in order[:held_out]}
    train = [r for key in keys if key not in valid_keys for r in groups[key]]
    valid = [r for key in keys if key in valid_keys for r in groups[key]]
    return train, valid
