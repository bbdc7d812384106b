"""Per-column feature encoders: numeric, categorical, diplotype, SNP and flag columns.

Each encoder learns its state from training data (``fit``), turns a column into one or more
feature columns (``transform``) and round-trips through a JSON-compatible dict.

Missing-value policy, the same for every kind of column:

* a missing entry is imputed (numeric: training median; flag: 0, i.e. "not taking"; genotype:
  the training mean allele count; categorical: the level ``missing``), and
* when the training column had any missing entry, a ``<column>:missing`` indicator feature
  (1 for imputed rows) is added, so the model can learn that "unknown" differs from the
  imputed value. Rows are never dropped.

Values that cannot be read (a word in a numeric column, a malformed genotype, a category or
allele not seen in training) raise :class:`EncodingError` when ``unknown_values="error"``
(the default). With ``unknown_values="missing"`` they are treated as missing and counted in
:class:`ColumnReport`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from molmtl.pharmaco.genotypes import GenotypeError, is_missing, parse_diplotype, parse_snp_call

UNKNOWN_POLICIES = ("error", "missing")
_TRUE_TOKENS = frozenset({"1", "1.0", "true", "yes", "y", "t"})
_FALSE_TOKENS = frozenset({"0", "0.0", "false", "no", "n", "f"})


class EncodingError(ValueError):
    """A value that an encoder cannot read under the ``unknown_values="error"`` policy."""


@dataclass
class ColumnReport:
    """Counts for one source column in one ``transform`` call."""

    column: str
    kind: str
    rows: int = 0
    missing: int = 0
    unknown: int = 0
    unknown_examples: list[str] = field(default_factory=list)
    pooled_unseen: int = 0

    def note_unknown(self, value: Any) -> None:
        """Count one unreadable value and keep up to five examples."""
        self.unknown += 1
        if len(self.unknown_examples) < 5:
            self.unknown_examples.append(repr(value))


class ColumnEncoder(ABC):
    """Base class: one source column in, ``feature_names`` columns out."""

    kind: ClassVar[str]

    def __init__(self, column: str, unknown_values: str = "error") -> None:
        if unknown_values not in UNKNOWN_POLICIES:
            raise ValueError(f"unknown_values must be one of {UNKNOWN_POLICIES}, got {unknown_values!r}")
        self.column = column
        self.unknown_values = unknown_values
        self.has_missing_indicator = False

    @property
    @abstractmethod
    def value_names(self) -> list[str]:
        """Names of the value features, without the missing indicator."""

    @property
    def feature_names(self) -> list[str]:
        """Names of all output features, the missing indicator last."""
        names = list(self.value_names)
        if self.has_missing_indicator:
            names.append(f"{self.column}:missing")
        return names

    def fit(self, values: pd.Series) -> ColumnEncoder:
        """Learn the encoding from the training column ``values``."""
        report = ColumnReport(self.column, self.kind)
        parsed = [self._parse(value, row, report, fitting=True) for row, value in zip(values.index, values)]
        self._fit_parsed(parsed)
        self.has_missing_indicator = any(item is None for item in parsed)
        return self

    def transform(self, values: pd.Series) -> tuple[np.ndarray, ColumnReport]:
        """Encode ``values`` into a float64 array of shape ``[len(values), len(feature_names)]``."""
        report = ColumnReport(self.column, self.kind, rows=len(values))
        parsed = [self._parse(value, row, report, fitting=False) for row, value in zip(values.index, values)]
        missing = np.array([item is None for item in parsed], dtype=bool)
        report.missing = int(missing.sum())
        encoded = self._encode_parsed(parsed)
        if self.has_missing_indicator:
            encoded = np.concatenate([encoded, missing[:, None].astype(np.float64)], axis=1)
        return encoded, report

    def _reject(self, value: Any, row: Any, report: ColumnReport, reason: str) -> None:
        """Raise for an unreadable value, or count it when the policy is ``missing``."""
        if self.unknown_values == "error":
            raise EncodingError(
                f"{reason} (column {self.column!r}, row {row}, value {value!r}). Fix the value, "
                "write NA for unknown, or set unknown_values: missing to impute such values."
            )
        report.note_unknown(value)

    @abstractmethod
    def _parse(self, value: Any, row: Any, report: ColumnReport, fitting: bool) -> Any:
        """Return the parsed value, or None when it is missing or rejected."""

    @abstractmethod
    def _fit_parsed(self, parsed: list[Any]) -> None:
        """Learn the state from parsed training values."""

    @abstractmethod
    def _encode_parsed(self, parsed: list[Any]) -> np.ndarray:
        """Encode parsed values (None means missing) into the value features."""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-compatible state of this encoder."""
        return {
            "kind": self.kind,
            "column": self.column,
            "unknown_values": self.unknown_values,
            "has_missing_indicator": self.has_missing_indicator,
            "state": self._state(),
        }

    @abstractmethod
    def _state(self) -> dict[str, Any]:
        """Return the learned state."""

    @abstractmethod
    def _load_state(self, state: dict[str, Any]) -> None:
        """Restore the learned state."""

    @staticmethod
    def from_dict(payload: dict[str, Any]) -> ColumnEncoder:
        """Rebuild an encoder written by :meth:`to_dict`."""
        kinds = {cls.kind: cls for cls in (NumericEncoder, CategoricalEncoder, DiplotypeEncoder, SnpEncoder, FlagEncoder)}
        encoder = kinds[payload["kind"]](payload["column"], unknown_values=payload["unknown_values"])
        encoder.has_missing_indicator = bool(payload["has_missing_indicator"])
        encoder._load_state(payload["state"])
        return encoder


class NumericEncoder(ColumnEncoder):
    """A numeric covariate, standardised to zero mean and unit variance over the training rows.

    Missing entries are imputed with the training median (before standardising). ``mean`` and
    ``scale`` are kept so coefficients can be converted back to raw units.
    """

    kind = "numeric"

    def __init__(self, column: str, unknown_values: str = "error") -> None:
        super().__init__(column, unknown_values)
        self.mean = 0.0
        self.scale = 1.0
        self.median = 0.0

    @property
    def value_names(self) -> list[str]:
        return [self.column]

    def _parse(self, value: Any, row: Any, report: ColumnReport, fitting: bool) -> float | None:
        if is_missing(value):
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            self._reject(value, row, report, "non-numeric value in a numeric column")
            return None
        if not np.isfinite(number):
            self._reject(value, row, report, "infinite value in a numeric column")
            return None
        return number

    def _fit_parsed(self, parsed: list[Any]) -> None:
        observed = np.array([item for item in parsed if item is not None], dtype=np.float64)
        if observed.size == 0:
            raise EncodingError(f"numeric column {self.column!r} has no observed values in the training data; remove it from the features")
        self.median = float(np.median(observed))
        self.mean = float(observed.mean())
        spread = float(observed.std())
        # NOTE: a constant column keeps scale 1, so it encodes to zeros and gets no weight.
        self.scale = spread if spread > 0 else 1.0

    def _encode_parsed(self, parsed: list[Any]) -> np.ndarray:
        raw = np.array([self.median if item is None else item for item in parsed], dtype=np.float64)
        return ((raw - self.mean) / self.scale)[:, None]

    def _state(self) -> dict[str, Any]:
        return {"mean": self.mean, "scale": self.scale, "median": self.median}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.mean, self.scale, self.median = float(state["mean"]), float(state["scale"]), float(state["median"])


class CategoricalEncoder(ColumnEncoder):
    """A categorical covariate, one-hot encoded against the most frequent training level.

    The reference level gets no column, so each coefficient is the difference from it. A
    missing entry becomes the level ``missing`` (the indicator of this column type).
    """

    kind = "categorical"
    MISSING_LEVEL = "missing"

    def __init__(self, column: str, unknown_values: str = "error") -> None:
        super().__init__(column, unknown_values)
        self.reference = ""
        self.levels: list[str] = []

    @property
    def value_names(self) -> list[str]:
        return [f"{self.column}={level}" for level in self.levels]

    @property
    def feature_names(self) -> list[str]:
        # The missing level is already one of the one-hot columns.
        return self.value_names

    def _parse(self, value: Any, row: Any, report: ColumnReport, fitting: bool) -> str | None:
        if is_missing(value):
            return None
        level = str(value).strip()
        if not fitting and level != self.reference and level not in self.levels:
            self._reject(value, row, report, f"category not seen in training (known: {[self.reference, *self.levels]})")
            return None
        return level

    def _fit_parsed(self, parsed: list[Any]) -> None:
        counts = Counter(self.MISSING_LEVEL if item is None else item for item in parsed)
        if not counts:
            raise EncodingError(f"categorical column {self.column!r} is empty")
        ordered = sorted(counts, key=lambda level: (-counts[level], level))
        self.reference = ordered[0]
        self.levels = ordered[1:]

    def fit(self, values: pd.Series) -> CategoricalEncoder:
        super().fit(values)
        self.has_missing_indicator = False
        return self

    def _encode_parsed(self, parsed: list[Any]) -> np.ndarray:
        index = {level: position for position, level in enumerate(self.levels)}
        encoded = np.zeros((len(parsed), len(self.levels)), dtype=np.float64)
        for row, item in enumerate(parsed):
            level = self.MISSING_LEVEL if item is None else item
            if level in index:
                encoded[row, index[level]] = 1.0
        return encoded

    def _state(self) -> dict[str, Any]:
        return {"reference": self.reference, "levels": self.levels}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.reference, self.levels = str(state["reference"]), [str(level) for level in state["levels"]]


class _AlleleCountEncoder(ColumnEncoder):
    """Shared logic of genotype columns: count alleles against a reference allele."""

    def __init__(self, column: str, unknown_values: str = "error") -> None:
        super().__init__(column, unknown_values)
        self.reference = ""
        self.alleles: list[str] = []
        self.mean_counts: list[float] = []

    def _count(self, pair: tuple[str, str]) -> np.ndarray:
        counts = np.zeros(len(self.alleles), dtype=np.float64)
        for allele in pair:
            if allele in self.alleles:
                counts[self.alleles.index(allele)] += 1.0
        return counts

    def _fit_parsed(self, parsed: list[Any]) -> None:
        self._choose_alleles(Counter(allele for pair in parsed if pair is not None for allele in pair))
        observed = [self._count(pair) for pair in parsed if pair is not None]
        if not observed:
            raise EncodingError(f"genotype column {self.column!r} has no observed genotypes in the training data; remove it from the features")
        self.mean_counts = [float(value) for value in np.mean(observed, axis=0)]

    @abstractmethod
    def _choose_alleles(self, counts: Counter[str]) -> None:
        """Set ``reference`` and ``alleles`` from allele counts over the training genotypes."""

    def _encode_parsed(self, parsed: list[Any]) -> np.ndarray:
        encoded = np.empty((len(parsed), len(self.alleles)), dtype=np.float64)
        for row, pair in enumerate(parsed):
            encoded[row] = self.mean_counts if pair is None else self._count(pair)
        return encoded

    def _state(self) -> dict[str, Any]:
        return {"reference": self.reference, "alleles": self.alleles, "mean_counts": self.mean_counts}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.reference = str(state["reference"])
        self.alleles = [str(allele) for allele in state["alleles"]]
        self.mean_counts = [float(value) for value in state["mean_counts"]]


class DiplotypeEncoder(_AlleleCountEncoder):
    """A star-allele diplotype column (``*1/*3``) as per-allele counts (0, 1 or 2).

    The most frequent training allele (usually ``*1``) is the reference and gets no column.
    Alleles with at least ``min_allele_count`` training copies get their own column. Rarer
    training alleles are pooled into ``<column>:other``. An allele never seen in training
    is counted as ``other`` when that column exists (counted in
    ``ColumnReport.pooled_unseen``) and otherwise follows the ``unknown_values`` policy.
    """

    kind = "diplotype"
    OTHER = "other"

    def __init__(self, column: str, unknown_values: str = "error", min_allele_count: int = 5) -> None:
        super().__init__(column, unknown_values)
        self.min_allele_count = int(min_allele_count)
        self.rare: list[str] = []

    @property
    def value_names(self) -> list[str]:
        return [f"{self.column}:{allele}" for allele in self.alleles]

    def _parse(self, value: Any, row: Any, report: ColumnReport, fitting: bool) -> tuple[str, str] | None:
        try:
            pair = parse_diplotype(value, self.column, row)
        except GenotypeError as error:
            if self.unknown_values == "error":
                raise EncodingError(f"{error} Or set unknown_values: missing to impute such values.") from error
            report.note_unknown(value)
            return None
        if pair is None or fitting:
            return pair
        known = {self.reference, *self.alleles, *self.rare}
        unseen = [allele for allele in pair if allele not in known]
        if unseen and self.OTHER in self.alleles:
            report.pooled_unseen += 1
        elif unseen:
            self._reject(value, row, report, f"allele {unseen[0]} not seen in training (known: {sorted(known)})")
            return None
        return tuple(self.OTHER if allele in self.rare or allele not in known else allele for allele in pair)  # type: ignore[return-value]

    def _choose_alleles(self, counts: Counter[str]) -> None:
        ordered = sorted(counts, key=lambda allele: (-counts[allele], allele))
        self.reference = ordered[0] if ordered else ""
        common = [allele for allele in ordered[1:] if counts[allele] >= self.min_allele_count]
        self.rare = [allele for allele in ordered[1:] if counts[allele] < self.min_allele_count]
        self.alleles = sorted(common) + ([self.OTHER] if self.rare else [])

    def _fit_parsed(self, parsed: list[Any]) -> None:
        super()._fit_parsed(parsed)
        observed = [self._count(self._pool(pair)) for pair in parsed if pair is not None]
        self.mean_counts = [float(value) for value in np.mean(observed, axis=0)]

    def _pool(self, pair: tuple[str, str]) -> tuple[str, str]:
        return tuple(self.OTHER if allele in self.rare else allele for allele in pair)  # type: ignore[return-value]

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "rare": self.rare, "min_allele_count": self.min_allele_count}

    def _load_state(self, state: dict[str, Any]) -> None:
        super()._load_state(state)
        self.rare = [str(allele) for allele in state["rare"]]
        self.min_allele_count = int(state["min_allele_count"])


class SnpEncoder(_AlleleCountEncoder):
    """A biallelic SNP call column (``A/G``) as the count of the minor allele (0, 1 or 2).

    The minor allele is the less frequent of the two nucleotides in the training data. A
    training column with more than two nucleotides raises :class:`EncodingError`. A nucleotide
    not seen in training follows the ``unknown_values`` policy.
    """

    kind = "snp"

    @property
    def value_names(self) -> list[str]:
        return [f"{self.column}:{allele}" for allele in self.alleles]

    def _parse(self, value: Any, row: Any, report: ColumnReport, fitting: bool) -> tuple[str, str] | None:
        try:
            pair = parse_snp_call(value, self.column, row)
        except GenotypeError as error:
            if self.unknown_values == "error":
                raise EncodingError(f"{error} Or set unknown_values: missing to impute such values.") from error
            report.note_unknown(value)
            return None
        if pair is None or fitting:
            return pair
        unseen = [allele for allele in pair if allele != self.reference and allele not in self.alleles]
        if unseen:
            self._reject(value, row, report, f"nucleotide {unseen[0]} not seen in training (alleles: {[self.reference, *self.alleles]})")
            return None
        return pair

    def _choose_alleles(self, counts: Counter[str]) -> None:
        if len(counts) > 2:
            raise EncodingError(
                f"SNP column {self.column!r} has {len(counts)} nucleotides in the training data "
                f"({dict(counts)}); only biallelic SNPs are supported. Encode it as a categorical column."
            )
        ordered = sorted(counts, key=lambda allele: (-counts[allele], allele))
        self.reference = ordered[0] if ordered else ""
        # NOTE: a monomorphic training column yields no value feature, only its missing indicator (if any).
        self.alleles = ordered[1:2] if len(ordered) > 1 else []

    def _fit_parsed(self, parsed: list[Any]) -> None:
        super()._fit_parsed(parsed)
        if not self.alleles:
            self.mean_counts = []


class FlagEncoder(ColumnEncoder):
    """A yes/no flag such as a co-medication (1/0, true/false, yes/no). Missing is imputed as 0."""

    kind = "flag"

    @property
    def value_names(self) -> list[str]:
        return [self.column]

    def _parse(self, value: Any, row: Any, report: ColumnReport, fitting: bool) -> float | None:
        if is_missing(value):
            return None
        token = str(value).strip().lower()
        if token in _TRUE_TOKENS:
            return 1.0
        if token in _FALSE_TOKENS:
            return 0.0
        self._reject(value, row, report, "flag value is not one of 1/0, true/false, yes/no")
        return None

    def _fit_parsed(self, parsed: list[Any]) -> None:
        return None

    def _encode_parsed(self, parsed: list[Any]) -> np.ndarray:
        return np.array([0.0 if item is None else item for item in parsed], dtype=np.float64)[:, None]

    def _state(self) -> dict[str, Any]:
        return {}

    def _load_state(self, state: dict[str, Any]) -> None:
        return None
