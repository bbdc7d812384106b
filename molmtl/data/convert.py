"""Conversion of an input dataset to a molmtl HDF5 file: import, validate, write, summarise."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from molmtl.data.importers import IMPORTERS, Importer, ImportOptions, detect_format
from molmtl.data.structure import Structure
from molmtl.data.summary import DatasetSummary
from molmtl.data.validation import BadStructurePolicy, InvalidStructureError, OnBad, validate_structure
from molmtl.data.writer import H5Writer


@dataclass
class ConversionResult:
    """Outcome of :func:`convert_file`: the summary of what was written and what was skipped."""

    output: Path
    format: str
    summary: DatasetSummary
    skipped: list[int]
    skip_message: str
    provenance: dict[str, Any]


def convert_file(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    format: str = "auto",
    options: ImportOptions | None = None,
    on_bad: OnBad = "error",
    level_of_theory: str | None = None,
    command: str | None = None,
    overwrite: bool = False,
    batch_size: int = 1024,
    progress: bool = False,
) -> ConversionResult:
    """Convert ``source`` to a molmtl HDF5 file at ``output``.

    ``format`` is an importer name (see :data:`molmtl.data.importers.IMPORTERS`) or
    ``"auto"``. Every structure is validated. With ``on_bad="error"`` the first invalid one
    raises :class:`~molmtl.data.validation.InvalidStructureError` naming its index in the
    input, with ``"skip"`` it is left out and listed in the result. Nothing is written
    under ``output`` unless the whole conversion succeeds.
    """
    source = Path(source)
    name = detect_format(source) if format == "auto" else format
    if name not in IMPORTERS:
        raise ValueError(f"unknown format {format!r}; use auto or one of {', '.join(IMPORTERS)}")
    options = options or ImportOptions()
    if options.dipole_reference not in ("centre_of_mass", "origin"):
        raise ValueError(
            f"dipole reference must be centre_of_mass or origin, not {options.dipole_reference!r}"
        )
    importer = IMPORTERS[name](source, options)
    dipoles = _DipoleReference(importer, options)
    policy = BadStructurePolicy(on_bad)
    summary = DatasetSummary()
    provenance: dict[str, Any] = {"source": str(source.resolve()), "source_format": name}
    if level_of_theory:
        provenance["level_of_theory"] = level_of_theory
    if command:
        provenance["command"] = command

    bar = _progress_bar(progress, source.name)
    with H5Writer(output, provenance=provenance, overwrite=overwrite, validate=False) as writer:
        batch: list[Structure] = []
        for index, item in enumerate(importer.structures()):
            bar.update(1)
            if isinstance(item, InvalidStructureError):
                policy.handle(item, index)
                continue
            try:
                validate_structure(item)
            except InvalidStructureError as error:
                policy.handle(error, index)
                continue
            dipoles.apply(item)
            summary.add(item)
            batch.append(item)
            if len(batch) >= batch_size:
                writer.append(batch)
                batch = []
        writer.append(batch)
        bar.close()
        provenance.update(importer.provenance())
        provenance.update(dipoles.notes())
        if policy.skipped:
            provenance["skipped_input_indices"] = policy.skipped
        writer.provenance = provenance
    return ConversionResult(Path(output), name, summary, policy.skipped, policy.summary(), provenance)


class _DipoleReference:
    """Moves origin-based dipoles of charged structures to the centre of mass and records what it did.

    It also tracks max |Q r_com| over charged structures with a dipole: the amount by which the
    origin and centre-of-mass conventions differ for this input (zero for centred structures).
    """

    def __init__(self, importer: Importer, options: ImportOptions) -> None:
        self.active = options.dipole_reference == "origin" and not importer.fixes_dipole_reference
        self.fixed = importer.fixes_dipole_reference
        self.reference = options.dipole_reference
        self.charged = 0
        self.max_shift = 0.0

    def apply(self, structure: Structure) -> None:
        if structure.dipole is None or structure.total_charge == 0:
            return
        shift = structure.total_charge * structure.centre_of_mass()
        self.charged += 1
        self.max_shift = max(self.max_shift, float(np.linalg.norm(shift)))
        if self.active:
            structure.dipole = structure.dipole - shift

    def notes(self) -> dict[str, Any]:
        if self.fixed or self.charged == 0:
            return {}
        action = (
            "moved from the origin to the centre of mass (mu - Q r_com)"
            if self.active
            else "stored as given (input declared about the centre of mass)"
        )
        return {
            "dipole_reference": f"dipoles of {self.charged} charged structures {action}; "
            f"max |Q r_com| = {self.max_shift:.3g} e*Angstrom"
        }


class _NoProgress:
    def update(self, _count: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(enabled: bool, label: str) -> Any:
    if not enabled:
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(desc=f"converting {label}", unit=" structures", mininterval=1.0)
