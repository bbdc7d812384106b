"""YAML configuration of ``molmtl pharmaco train`` and the table loading it describes.

Example (IWPC warfarin, tasks = race groups)::

    data:
      format: iwpc                 # or csv
      path: warfarin.csv           # relative paths are relative to this YAML file
      other_race: exclude          # iwpc only: exclude or task
    features:
      preset: iwpc_extended        # or iwpc; or list columns as in FeatureSpec
    model:
      kind: linear                 # linear or torch
      mode: multitask              # multitask, single_task or pooled
      target_transform: sqrt
    interpretation:
      bootstrap: 200
    output:
      directory: runs/warfarin     # model.json, coefficients.csv, coefficients.png, cv_metrics.csv

For ``format: csv`` set ``task_column``, ``dose_column`` and optionally ``id_column`` and
``tasks`` (the task labels to keep) under ``data``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from molmtl.pharmaco.encoding import FeatureSpec
from molmtl.pharmaco.table import PatientTable, read_patient_csv

DATA_FORMATS = ("csv", "iwpc")
FEATURE_PRESETS = ("iwpc", "iwpc_extended")


@dataclass
class DataConfig:
    """Location and format of the patient table (see the module docstring)."""

    path: str
    format: str = "csv"
    task_column: str | None = None
    dose_column: str | None = None
    id_column: str | None = None
    tasks: list[str] | None = None
    metadata: str | None = None
    other_race: str = "exclude"
    stable_only: bool = True
    impute_vkorc1: bool = True

    def __post_init__(self) -> None:
        if self.format not in DATA_FORMATS:
            raise ValueError(f"data.format must be one of {DATA_FORMATS}, got {self.format!r}")
        if self.format == "csv" and (self.task_column is None or self.dose_column is None):
            raise ValueError("data.format csv needs data.task_column and data.dose_column")

    def resolve(self, base: Path) -> DataConfig:
        """Return a copy whose relative paths are taken relative to ``base``."""
        values = dict(self.__dict__)
        for key in ("path", "metadata"):
            if values[key] is not None and not Path(values[key]).is_absolute():
                values[key] = str((base / values[key]).resolve())
        return DataConfig(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a plain dict."""
        return dict(self.__dict__)


def load_table(data: DataConfig, path: str | Path | None = None, require_dose: bool = True) -> PatientTable:
    """Read the table of ``data`` (or the file ``path`` in the same format)."""
    source = Path(path) if path is not None else Path(data.path)
    if data.format == "iwpc":
        from molmtl.pharmaco.iwpc import IWPC_TASKS, load_iwpc

        return load_iwpc(
            source,
            metadata=data.metadata if path is None else None,
            tasks=data.tasks or IWPC_TASKS,
            other_race=data.other_race,
            stable_only=data.stable_only,
            impute_vkorc1=data.impute_vkorc1,
            require_dose=require_dose,
        )
    assert data.task_column is not None and data.dose_column is not None
    return read_patient_csv(source, data.task_column, data.dose_column, data.id_column, data.tasks, require_dose)


def feature_spec(payload: dict[str, Any]) -> FeatureSpec:
    """Build the feature spec from ``features``: a ``preset`` name or explicit column lists."""
    payload = dict(payload)
    preset = payload.pop("preset", None)
    if preset is None:
        return FeatureSpec.from_dict(payload)
    if preset not in FEATURE_PRESETS:
        raise ValueError(f"features.preset must be one of {FEATURE_PRESETS}, got {preset!r}")
    from molmtl.pharmaco.iwpc import iwpc_features

    spec = iwpc_features(extended=preset == "iwpc_extended")
    for key, value in payload.items():
        if key not in FeatureSpec.__dataclass_fields__:
            raise ValueError(f"unknown feature key {key!r}")
        setattr(spec, key, value)
    spec.__post_init__()
    return spec


@dataclass
class PharmacoConfig:
    """The whole training configuration."""

    data: DataConfig
    features: FeatureSpec
    model: dict[str, Any] = field(default_factory=dict)
    bootstrap: int = 200
    interval_level: float = 0.9
    output_directory: str = "runs/pharmaco"
    seed: int = 0

    @classmethod
    def from_yaml(cls, path: str | Path) -> PharmacoConfig:
        """Read and check a YAML config; relative paths are resolved against its folder."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} not found")
        payload = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls.from_dict(payload, base=path.parent)

    @classmethod
    def from_dict(cls, payload: dict[str, Any], base: Path = Path(".")) -> PharmacoConfig:
        """Build a config from a mapping (the parsed YAML)."""
        allowed = {"data", "features", "model", "interpretation", "output", "seed"}
        unknown = set(payload) - allowed
        if unknown:
            raise ValueError(f"unknown config sections {sorted(unknown)}; allowed: {sorted(allowed)}")
        if "data" not in payload or "features" not in payload:
            raise ValueError("the config needs a data section and a features section")
        interpretation = dict(payload.get("interpretation") or {})
        output = dict(payload.get("output") or {})
        directory = Path(output.get("directory", "runs/pharmaco"))
        if not directory.is_absolute():
            directory = (base / directory).resolve()
        return cls(
            data=DataConfig(**payload["data"]).resolve(base),
            features=feature_spec(payload["features"]),
            model=dict(payload.get("model") or {}),
            bootstrap=int(interpretation.get("bootstrap", 200)),
            interval_level=float(interpretation.get("interval_level", 0.9)),
            output_directory=str(directory),
            seed=int(payload.get("seed", 0)),
        )
