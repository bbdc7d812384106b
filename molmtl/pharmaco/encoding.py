"""Feature specification and the table encoder that turns patient rows into a design matrix.

See :mod:`molmtl.pharmaco.columns` for the per-column encodings and the missing-value policy.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from molmtl.pharmaco.columns import (
    UNKNOWN_POLICIES,
    CategoricalEncoder,
    ColumnEncoder,
    ColumnReport,
    DiplotypeEncoder,
    FlagEncoder,
    NumericEncoder,
    SnpEncoder,
)

logger = logging.getLogger(__name__)


@dataclass
class FeatureSpec:
    """Feature columns of a patient table and the encoding of each.

    ``numeric``: standardised covariates (age, weight ...). ``categorical``: one-hot covariates.
    ``diplotypes``: star-allele columns (``*1/*3``) as per-allele counts. ``snps``: biallelic
    calls (``A/G``) as minor-allele counts. ``flags``: yes/no columns such as co-medications.
    ``min_allele_count``: star alleles with fewer training copies are pooled into ``other``.
    ``unknown_values``: ``error`` (raise on unreadable values) or ``missing`` (impute and count).
    """

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    diplotypes: list[str] = field(default_factory=list)
    snps: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    min_allele_count: int = 5
    unknown_values: str = "error"

    def __post_init__(self) -> None:
        if self.unknown_values not in UNKNOWN_POLICIES:
            raise ValueError(f"unknown_values must be one of {UNKNOWN_POLICIES}, got {self.unknown_values!r}")
        seen: set[str] = set()
        for column in self.columns:
            if column in seen:
                raise ValueError(f"feature column {column!r} is listed twice in the feature specification")
            seen.add(column)
        if not seen:
            raise ValueError("the feature specification lists no columns; set at least one of numeric, categorical, diplotypes, snps, flags")

    @property
    def columns(self) -> list[str]:
        """All source columns in encoding order."""
        return [*self.numeric, *self.categorical, *self.diplotypes, *self.snps, *self.flags]

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> FeatureSpec:
        """Build a spec from a config mapping; unknown keys raise ``ValueError``."""
        allowed = set(cls.__dataclass_fields__)
        unknown = set(payload) - allowed
        if unknown:
            raise ValueError(f"unknown feature keys {sorted(unknown)}; allowed keys are {sorted(allowed)}")
        return cls(**payload)

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a plain dict."""
        return asdict(self)


@dataclass
class EncodingReport:
    """Missing and unreadable value counts of one encoding pass, per source column."""

    rows: int
    columns: list[ColumnReport]

    @property
    def missing_total(self) -> int:
        """Number of imputed entries over all columns."""
        return sum(report.missing for report in self.columns)

    def summary(self) -> str:
        """Return a short multi-line text: one line per column with missing or unknown values."""
        lines = [f"{self.rows} rows encoded, {self.missing_total} missing entries imputed"]
        for report in self.columns:
            if report.missing or report.unknown or report.pooled_unseen:
                line = f"  {report.column} ({report.kind}): {report.missing} missing"
                if report.unknown:
                    line += f", of which {report.unknown} unreadable (e.g. {', '.join(report.unknown_examples)})"
                if report.pooled_unseen:
                    line += f"; {report.pooled_unseen} with alleles not seen in training, counted as 'other'"
                lines.append(line)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data."""
        return {"rows": self.rows, "columns": [asdict(report) for report in self.columns]}


class TabularEncoder:
    """Fit on a training table, then encode any table with the same columns.

    Example::

        encoder = TabularEncoder(FeatureSpec(numeric=["age"], diplotypes=["cyp2c9"])).fit(train)
        design, report = encoder.transform(test)   # design: [n, len(encoder.feature_names)]
    """

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self.encoders: list[ColumnEncoder] = []

    def _build(self) -> list[ColumnEncoder]:
        policy = self.spec.unknown_values
        encoders: list[ColumnEncoder] = []
        encoders += [NumericEncoder(column, policy) for column in self.spec.numeric]
        encoders += [CategoricalEncoder(column, policy) for column in self.spec.categorical]
        encoders += [DiplotypeEncoder(column, policy, self.spec.min_allele_count) for column in self.spec.diplotypes]
        encoders += [SnpEncoder(column, policy) for column in self.spec.snps]
        encoders += [FlagEncoder(column, policy) for column in self.spec.flags]
        return encoders

    def _check_columns(self, frame: pd.DataFrame) -> None:
        absent = [column for column in self.spec.columns if column not in frame.columns]
        if absent:
            raise KeyError(
                f"feature columns {absent} are missing from the table (it has {list(frame.columns)[:20]}"
                f"{' ...' if frame.shape[1] > 20 else ''}); check the column names in the feature specification"
            )

    def fit(self, frame: pd.DataFrame) -> TabularEncoder:
        """Learn every column encoding from the training rows of ``frame``."""
        self._check_columns(frame)
        if len(frame) == 0:
            raise ValueError("cannot fit the feature encoder on an empty table")
        self.encoders = [encoder.fit(frame[encoder.column]) for encoder in self._build()]
        return self

    @property
    def feature_names(self) -> list[str]:
        """Names of the encoded features, in design-matrix column order."""
        return [name for encoder in self.encoders for name in encoder.feature_names]

    @property
    def feature_sources(self) -> list[tuple[str, str]]:
        """``(source column, kind)`` for each encoded feature."""
        return [(encoder.column, encoder.kind) for encoder in self.encoders for _ in encoder.feature_names]

    def numeric_scales(self) -> dict[str, float]:
        """Return the training standard deviation (raw units) of each numeric feature."""
        return {encoder.column: encoder.scale for encoder in self.encoders if isinstance(encoder, NumericEncoder)}

    def transform(self, frame: pd.DataFrame) -> tuple[np.ndarray, EncodingReport]:
        """Encode ``frame`` into a float64 design matrix and a report of imputed values."""
        if not self.encoders:
            raise RuntimeError("the encoder is not fitted; call fit() on training data first")
        self._check_columns(frame)
        blocks: list[np.ndarray] = []
        reports: list[ColumnReport] = []
        for encoder in self.encoders:
            block, report = encoder.transform(frame[encoder.column])
            blocks.append(block)
            reports.append(report)
        design = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(frame), 0))
        report = EncodingReport(rows=len(frame), columns=reports)
        unknown = sum(column.unknown for column in reports)
        if unknown:
            logger.warning("%d unreadable feature values were treated as missing", unknown)
        return design, report

    def to_dict(self) -> dict[str, Any]:
        """Return the spec and the learned state as JSON-compatible data."""
        return {"spec": self.spec.to_dict(), "encoders": [encoder.to_dict() for encoder in self.encoders]}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> TabularEncoder:
        """Rebuild a fitted encoder written by :meth:`to_dict`."""
        encoder = cls(FeatureSpec.from_dict(payload["spec"]))
        encoder.encoders = [ColumnEncoder.from_dict(item) for item in payload["encoders"]]
        return encoder
