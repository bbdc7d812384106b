"""Parsing of genotype strings: star-allele diplotypes and biallelic SNP calls.

Two notations are accepted:

* diplotypes of named (star) alleles, such as ``*1/*3`` or ``*1/*2A``, as reported for CYP2C9,
  CYP2C19 or TPMT. Each diplotype becomes two allele names.
* SNP calls of two nucleotides, such as ``A/G``, ``AG`` or ``A|G`` (phased), as reported for the
  VKORC1 promoter variant rs9923231. Each call becomes two nucleotide letters.

Missing calls (empty, ``NA``, ``N/A``, ``unknown``, ``-``, NaN) parse to ``None``. Anything else
that matches neither notation raises :class:`GenotypeError`, which names the column, row and value.
"""

from __future__ import annotations

import math
import re
from typing import Any

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "none", "null", "unknown", "missing", "-", "?", "./."})

_STAR_ALLELE = r"\*\d+[A-Z]?(?:\.\d+)?"
_DIPLOTYPE = re.compile(rf"^({_STAR_ALLELE})\s*/\s*({_STAR_ALLELE})$", re.IGNORECASE)
_SNP_SEPARATED = re.compile(r"^([ACGT])\s*[/|]\s*([ACGT])$", re.IGNORECASE)
_SNP_PLAIN = re.compile(r"^([ACGT])([ACGT])$", re.IGNORECASE)


class GenotypeError(ValueError):
    """A genotype string that is neither a recognised call nor a missing-value token."""


def is_missing(value: Any) -> bool:
    """Return True for NaN, None and the tokens in :data:`MISSING_TOKENS` (case-insensitive)."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return str(value).strip().lower() in MISSING_TOKENS


def _location(column: str, row: Any) -> str:
    return f"column {column!r}" + ("" if row is None else f", row {row}")


def parse_diplotype(value: Any, column: str = "?", row: Any = None) -> tuple[str, str] | None:
    """Split a star-allele diplotype such as ``*1/*3`` into its two allele names.

    Allele names are upper-cased (``*2a`` becomes ``*2A``). Returns ``None`` for a missing call.
    Raises :class:`GenotypeError` for any other string, for example ``*1/*3/*4`` or ``1/3``.
    """
    if is_missing(value):
        return None
    match = _DIPLOTYPE.match(str(value).strip())
    if match is None:
        raise GenotypeError(
            f"invalid diplotype {value!r} in {_location(column, row)}: expected two star alleles "
            "such as '*1/*3'. Correct the value or write 'NA' for an unknown genotype."
        )
    return match.group(1).upper(), match.group(2).upper()


def parse_snp_call(value: Any, column: str = "?", row: Any = None) -> tuple[str, str] | None:
    """Split a biallelic SNP call such as ``A/G``, ``AG`` or ``A|G`` into two nucleotides.

    Nucleotides are upper-cased. Returns ``None`` for a missing call. Raises
    :class:`GenotypeError` for any other string, for example ``A/X`` or ``A/G/T``.
    """
    if is_missing(value):
        return None
    text = str(value).strip()
    match = _SNP_SEPARATED.match(text) or _SNP_PLAIN.match(text)
    if match is None:
        raise GenotypeError(
            f"invalid SNP call {value!r} in {_location(column, row)}: expected two nucleotides "
            "from A, C, G, T such as 'A/G'. Correct the value or write 'NA' for an unknown genotype."
        )
    return match.group(1).upper(), match.group(2).upper()
