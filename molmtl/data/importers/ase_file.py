"""Importer for extxyz and every other file that ``ase.io`` reads.

Labels are looked up by key in ``atoms.info`` (per-structure), ``atoms.arrays`` (per-atom)
and the results of the calculator that ASE attaches while reading (extxyz moves ``energy``,
``forces``, ``stress`` and a few more there). Values are taken in eV, Å, e·Å unless the
unit options set other units. Dipoles are stored as given unless the options declare them
about the origin (``dipole_reference="origin"``), in which case the conversion moves those of
charged structures to the centre of mass.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any


from molmtl.data import units
from molmtl.data.importers.base import KEYED_LABELS, Importer, StructureOrError, as_error, labelled_structure, match_labels
from molmtl.data.structure import DEFAULT_CONFIG_TYPE, Structure
from molmtl.data.validation import InvalidFileError

#: Keys tried, in order, for labels whose key the user did not set.
DEFAULT_CANDIDATES: dict[str, tuple[str, ...]] = {
    "energy": ("energy",),
    "forces": ("forces",),
    "dipole": ("dipole",),
    "charges": ("charges",),
    "stress": ("stress",),
    "total_charge": ("charge", "total_charge"),
}

EXTXYZ_SUFFIXES = (".xyz", ".extxyz")


def available_keys(atoms: Any) -> set[str]:
    """Return every name under which ``atoms`` carries a value: info, arrays and calculator results."""
    names = set(atoms.info) | (set(atoms.arrays) - {"numbers", "positions"})
    if atoms.calc is not None:
        names |= set(getattr(atoms.calc, "results", {}) or {})
    return names


def lookup(atoms: Any, key: str) -> Any:
    """Return the value stored under ``key`` in info, arrays or the calculator results, or ``None``."""
    if key in atoms.info:
        return atoms.info[key]
    if key in atoms.arrays:
        return atoms.arrays[key]
    if atoms.calc is not None:
        results = getattr(atoms.calc, "results", {}) or {}
        if key in results:
            return results[key]
    return None


class AseFileImporter(Importer):
    """extxyz and other ASE-readable files (``ase.io.iread``), with configurable label keys."""

    name = "extxyz"
    description = "extxyz or any file ase.io can read (ASE units unless set)"
    ase_format: str | None = "extxyz"

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.suffix.lower() in EXTXYZ_SUFFIXES

    def _factors(self) -> dict[str, float]:
        options = self.options
        energy = units.energy_factor(options.energy_unit or "eV")
        length = units.length_factor(options.length_unit or "angstrom")
        forces = units.force_factor(options.forces_unit) if options.forces_unit else energy / length
        dipole = units.dipole_factor(options.dipole_unit) if options.dipole_unit else length
        return {
            "energy": energy,
            "length": length,
            "forces": forces,
            "dipole": dipole,
            "stress": energy / length**3,
        }

    def _label_keys(self) -> dict[str, tuple[str, ...]]:
        keys: dict[str, tuple[str, ...]] = {}
        for label in KEYED_LABELS:
            if self.options.disabled(label):
                continue
            requested = self.options.key(label)
            keys[label] = (requested,) if requested else DEFAULT_CANDIDATES[label]
        return keys

    def structures(self) -> Iterator[StructureOrError]:
        import ase.io

        factors = self._factors()
        label_keys = self._label_keys()
        seen: set[str] = set()
        found: set[str] = set()
        count = 0
        frames = ase.io.iread(self.path, index=":", format=self.ase_format)
        while True:
            try:
                atoms = next(frames)
            except StopIteration:
                break
            except Exception as error:  # ASE raises many types for a malformed or truncated frame
                raise InvalidFileError(
                    f"{self.path} cannot be read after {count} structures ({type(error).__name__}: {error}); "
                    "the file is truncated or malformed, fix or regenerate it"
                ) from error
            count += 1
            seen |= available_keys(atoms)
            values = match_labels(label_keys, lambda key: lookup(atoms, key), found)
            try:
                yield self._build(atoms, values, factors)
            except Exception as error:
                yield as_error(error)
        if count == 0:
            raise InvalidFileError(f"{self.path} contains no structures")
        self.require_keys_found({name: None for name in seen}, found, "info, arrays and calculator results")
        self.notes["keys_in_file"] = sorted(seen)
        self.notes["units_in"] = {
            "energy": self.options.energy_unit or "eV",
            "length": self.options.length_unit or "Angstrom",
            "forces": self.options.forces_unit or "energy/length",
            "dipole": self.options.dipole_unit or "e*length",
        }
        self.notes["keys"] = {label: list(keys) for label, keys in label_keys.items()}

    def _build(self, atoms: Any, values: dict[str, Any], factors: dict[str, float]) -> Structure:
        return labelled_structure(
            atoms,
            values,
            factors,
            weight=atoms.info.get("config_weight", atoms.info.get("weight", 1.0)),
            config_type=atoms.info.get("config_type", DEFAULT_CONFIG_TYPE),
            molecule=atoms.info.get("molecule", ""),
            spin_multiplicity=atoms.info.get("spin_multiplicity"),
        )


class AseAnyImporter(AseFileImporter):
    """Any other format ``ase.io`` recognises (format guessed by ASE)."""

    name = "ase"
    description = "any format ase.io.read recognises"
    ase_format = None

    @classmethod
    def detect(cls, path: Path) -> bool:
        from ase.io.formats import filetype

        try:
            return filetype(str(path), guess=False) is not None
        except Exception:  # ASE raises several types for unknown files
            return False
