"""Importer for ASE database files (``.db``, SQLite), including SchNetPack-style databases.

A label is looked up in the row's ``key_value_pairs``, then its ``data`` dictionary, then
the calculator columns ASE stores (energy, forces, stress, dipole, charges). Units come
from the options when set, else from SchNetPack metadata (``_property_unit_dict`` and
``_distance_unit``), else ASE's (eV, Å).

Spin: a ``spin_multiplicity`` field that contains 0 cannot be 2S + 1, so it is read as the
number of unpaired electrons 2S (as in the SpookyNet Ag3 and CH2 sets) and stored as 2S + 1;
the provenance records this.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from molmtl.data import units
from molmtl.data.importers.base import KEYED_LABELS, Importer, StructureOrError, as_error, labelled_structure, match_labels
from molmtl.data.structure import DEFAULT_CONFIG_TYPE, Structure
from molmtl.data.validation import InvalidFileError

DEFAULT_CANDIDATES: dict[str, tuple[str, ...]] = {
    "energy": ("energy", "total_energy"),
    "forces": ("forces", "atomic_forces"),
    "dipole": ("dipole", "dipole_moment"),
    "charges": ("charges", "partial_charges"),
    "stress": ("stress",),
    "total_charge": ("total_charge", "charge"),
}
SPIN_KEYS = ("spin_multiplicity", "multiplicity")
CALCULATOR_COLUMNS = ("energy", "forces", "stress", "dipole", "charges")


def row_lookup(row: Any, key: str) -> Any:
    """Return ``key`` from the row's key-value pairs, data or calculator columns, or ``None``."""
    if key in row.key_value_pairs:
        return row.key_value_pairs[key]
    data = row.get("data") or {}
    if key in data:
        return data[key]
    if key in CALCULATOR_COLUMNS:
        return row.get(key)
    return None


def row_keys(row: Any) -> set[str]:
    """Return the names under which ``row`` carries values."""
    names = set(row.key_value_pairs) | set(row.get("data") or {})
    names |= {column for column in CALCULATOR_COLUMNS if row.get(column) is not None}
    return names


class AseDbImporter(Importer):
    """ASE SQLite databases."""

    name = "asedb"
    description = "ASE database (.db), SchNetPack unit metadata honoured"

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.suffix.lower() == ".db"

    def _factors(self, metadata: dict[str, Any]) -> dict[str, float]:
        file_units = metadata.get("_property_unit_dict") or {}
        options = self.options

        def pick(option: str | None, *names: str) -> str | None:
            if option:
                return option
            for name in names:
                value = file_units.get(name)
                if isinstance(value, str):
                    return value
            return None

        energy_unit = pick(options.energy_unit, "energy", "total_energy") or "eV"
        length_unit = options.length_unit or metadata.get("_distance_unit") or "angstrom"
        forces_unit = pick(options.forces_unit, "forces", "atomic_forces")
        dipole_unit = pick(options.dipole_unit, "dipole", "dipole_moment")
        energy = units.energy_factor(energy_unit)
        length = units.length_factor(length_unit)
        self.notes["units_in"] = {
            "energy": energy_unit,
            "length": length_unit,
            "forces": forces_unit or f"{energy_unit}/{length_unit}",
            "dipole": dipole_unit or f"e*{length_unit}",
            "from": "options"
            if options.energy_unit
            else ("file metadata" if file_units else "ASE default (eV, Angstrom)"),
        }
        return {
            "energy": energy,
            "length": length,
            "forces": units.force_factor(forces_unit) if forces_unit else energy / length,
            "dipole": units.dipole_factor(dipole_unit) if dipole_unit else length,
            "stress": energy / length**3,
        }

    def structures(self) -> Iterator[StructureOrError]:
        import ase.db

        database = ase.db.connect(str(self.path), type="db")
        # One connection for the whole read, because without it ASE opens one per row.
        with database:
            yield from self._read(database)

    def _read(self, database: Any) -> Iterator[StructureOrError]:
        try:
            metadata = dict(database.metadata)
            rows = database.select()
            first = next(rows, None)
        except (sqlite3.DatabaseError, OSError) as error:
            raise InvalidFileError(
                f"{self.path} is not a readable ASE database ({error}); the file is truncated or not SQLite"
            ) from error
        if first is None:
            raise InvalidFileError(f"{self.path} contains no structures")

        factors = self._factors(metadata)
        label_keys = {
            label: ((self.options.key(label),) if self.options.key(label) else DEFAULT_CANDIDATES[label])
            for label in KEYED_LABELS
            if not self.options.disabled(label)
        }
        spin_offset = self._spin_offset(database, first)
        seen: set[str] = set()
        found: set[str] = set()
        count = 0
        for row in self._rows(first, rows):
            count += 1
            seen |= row_keys(row)
            values = match_labels(label_keys, lambda key: row_lookup(row, key), found)
            spin = _row_spin(row)
            if spin is not None:
                values["spin"] = spin + spin_offset
            try:
                yield self._build(row, values, factors)
            except Exception as error:
                yield as_error(error)
        self.require_keys_found(
            {name: None for name in seen}, found, "rows (key_value_pairs, data, calculator columns)"
        )
        self.notes["keys_in_file"] = sorted(seen)

    def _rows(self, first: Any, rows: Iterator[Any]) -> Iterator[Any]:
        yield first
        try:
            yield from rows
        except sqlite3.DatabaseError as error:
            raise InvalidFileError(
                f"{self.path} cannot be read past row {first.id} ({error}); the file is truncated"
            ) from error

    def _spin_offset(self, database: Any, first: Any) -> int:
        """Return 1 when the spin field contains 2S (some value is 0), else 0.

        The file is scanned unless the first value is already 0.
        """
        first_spin = _row_spin(first)
        if first_spin is None:
            return 0
        if first_spin == 0:
            offset = 1
        else:
            offset = 1 if any(_row_spin(row) == 0 for row in database.select()) else 0
        self.notes["spin_multiplicity"] = (
            "the source field holds 2S (it contains 0) and is stored as 2S + 1"
            if offset
            else "the source field is stored as 2S + 1"
        )
        return offset

    def _build(self, row: Any, values: dict[str, Any], factors: dict[str, float]) -> Structure:
        values = dict(values)
        dipole = values.get("dipole")
        if dipole is not None and np.size(dipole) == 3:
            values["dipole"] = np.asarray(dipole, dtype=np.float64).reshape(3)
        return labelled_structure(
            row.toatoms(),
            values,
            factors,
            weight=row.key_value_pairs.get("weight", 1.0),
            config_type=row.key_value_pairs.get("config_type", DEFAULT_CONFIG_TYPE),
            molecule=row.key_value_pairs.get("molecule", row.formula),
            spin_multiplicity=values.get("spin"),
        )


def _row_spin(row: Any) -> int | None:
    for key in SPIN_KEYS:
        value = row_lookup(row, key)
        if value is not None:
            return int(np.asarray(value).reshape(-1)[0])
    return None
