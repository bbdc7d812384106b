"""Importer for the ANI family of HDF5 layouts.

Every group that contains ``coordinates`` [C, N, 3] (Å) is read as C conformers. The
element list comes from whichever of these the group has:

* ANI-1 ("pyanitools") layout, nested groups: ``species`` [N] element symbols, with
  ``energies`` [C] and optional ``forces`` [C, N, 3];
* ANI-1x / ANI-1ccx release layout, one group per formula: ``atomic_numbers`` [N] and
  labels named ``<method>.<property>`` (default ``wb97x_dz.energy``, ``wb97x_dz.forces``,
  ``wb97x_dz.dipole``, ``wb97x_dz.cm5_charges``). NaN marks a missing label there, so a
  NaN label is stored as absent rather than rejected;
* torchani-style groups by atom count (``/002/``): ``species`` [C, N] atomic numbers.

Units are not stored in these files. The defaults are those of the ANI-1x data
descriptor: hartree, Å, hartree/Å and e·Å. A finite-difference check of the energies
confirms hartree/Å for the ANI-2x diatomics sample, while the Alkane-Dataset NMS file
(``C2H6_DFT+Force_NMS.h5``) stores hartree/bohr, which needs ``--forces-unit hartree/bohr``.
High-energy extras of the ANI-1 layout (``coordinatesHE``/``energiesHE``) are not imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from ase.data import atomic_numbers as symbol_to_number
from ase.data import chemical_symbols
from ase.formula import Formula

from molmtl.data import units
from molmtl.data.importers.base import Importer, StructureOrError, as_error
from molmtl.data.importers.spice import HDF5_SUFFIXES, open_hdf5
from molmtl.data.structure import Structure
from molmtl.data.validation import InvalidFileError

#: Default keys, tried in order, per label.
DEFAULT_CANDIDATES: dict[str, tuple[str, ...]] = {
    "energy": ("energies", "wb97x_dz.energy"),
    "forces": ("forces", "wb97x_dz.forces"),
    "dipole": ("dipoles", "wb97x_dz.dipole"),
    "charges": ("charges", "wb97x_dz.cm5_charges"),
}


def _leaf_groups(file: Any) -> list[Any]:
    import h5py

    groups: list[Any] = []

    def visit(_name: str, item: Any) -> None:
        if isinstance(item, h5py.Group) and "coordinates" in item:
            groups.append(item)

    file.visititems(visit)
    return groups


def _numbers(group: Any, count: int) -> np.ndarray:
    """Return atomic numbers as [C, N] for a group in any of the three layouts."""
    if "atomic_numbers" in group:
        numbers = group["atomic_numbers"][()].astype(np.int64)
        return np.broadcast_to(numbers, (count, numbers.size))
    if "species" not in group:
        raise InvalidFileError(
            f"group {group.name} has coordinates but neither 'species' nor 'atomic_numbers'; this is not "
            "an ANI layout"
        )
    species = group["species"][()]
    if species.dtype.kind in "SUO":
        symbols = [s.decode() if isinstance(s, bytes) else str(s) for s in species.reshape(-1)]
        unknown = [s for s in symbols if s not in symbol_to_number]
        if unknown:
            raise InvalidFileError(f"group {group.name} has unknown element symbols {sorted(set(unknown))}")
        numbers = np.array([symbol_to_number[s] for s in symbols], dtype=np.int64)
        return np.broadcast_to(numbers, (count, numbers.size))
    species = species.astype(np.int64)
    return species if species.ndim == 2 else np.broadcast_to(species, (count, species.size))


class AniImporter(Importer):
    """ANI-1, ANI-1x and torchani-style HDF5 files (hartree and Å by default)."""

    name = "ani"
    keyed_labels = ("energy", "forces", "dipole", "charges")
    description = (
        "ANI HDF5 layouts: ANI-1 nested groups, ANI-1x release, torchani /NNN/ groups (hartree, Angstrom)"
    )

    @classmethod
    def detect(cls, path: Path) -> bool:
        if path.suffix.lower() not in HDF5_SUFFIXES:
            return False
        try:
            import h5py

            with h5py.File(path, "r") as file:
                if "format_name" in file.attrs:
                    return False
                groups = _leaf_groups(file)
                return bool(groups) and ("species" in groups[0] or "atomic_numbers" in groups[0])
        except OSError:
            return False

    def structures(self) -> Iterator[StructureOrError]:
        file = open_hdf5(self.path)
        with file:
            groups = _leaf_groups(file)
            if not groups:
                raise InvalidFileError(
                    f"{self.path} has no group with a 'coordinates' dataset; it is empty or not an ANI layout"
                )
            available = {name for group in groups for name in group}
            keys = self._keys(available)
            energy = units.energy_factor(self.options.energy_unit or "hartree")
            length = units.length_factor(self.options.length_unit or "angstrom")
            forces = (
                units.force_factor(self.options.forces_unit) if self.options.forces_unit else energy / length
            )
            dipole = units.dipole_factor(self.options.dipole_unit) if self.options.dipole_unit else 1.0
            factors = {"energy": energy, "forces": forces, "dipole": dipole, "charges": 1.0}
            missing = {label: 0 for label in keys}
            skipped_high_energy = 0
            for group in groups:
                if "coordinatesHE" in group:
                    skipped_high_energy += group["coordinatesHE"].shape[0]
                yield from self._group_structures(group, keys, length, factors, missing)
        self.notes["units_in"] = {
            "energy": self.options.energy_unit or "hartree",
            "length": self.options.length_unit or "angstrom",
            "forces": self.options.forces_unit or "energy/length",
            "dipole": self.options.dipole_unit or "e*angstrom",
        }
        self.notes["keys"] = keys
        self.notes["nan_labels_stored_as_missing"] = missing
        if skipped_high_energy:
            self.notes["high_energy_conformers_not_imported"] = skipped_high_energy

    def _keys(self, available: set[str]) -> dict[str, str]:
        keys: dict[str, str] = {}
        for label, candidates in DEFAULT_CANDIDATES.items():
            if self.options.disabled(label):
                continue
            requested = self.options.key(label)
            if requested:
                if requested not in available:
                    raise InvalidFileError(
                        f"--{label}-key {requested!r} matches nothing in {self.path}; its groups have: "
                        f"{', '.join(sorted(available))}"
                    )
                keys[label] = requested
                continue
            match = next((key for key in candidates if key in available), None)
            if match:
                keys[label] = match
        return keys

    def _group_structures(
        self,
        group: Any,
        keys: dict[str, str],
        length: float,
        factors: dict[str, float],
        missing: dict[str, int],
    ) -> Iterator[StructureOrError]:
        coordinates = group["coordinates"][()].astype(np.float64) * length
        count = coordinates.shape[0]
        numbers = _numbers(group, count)
        per_conformer_numbers = "species" in group and group["species"].ndim == 2
        labels = {
            label: group[key][()].astype(np.float64) * factors[label]
            for label, key in keys.items()
            if key in group
        }
        name = group.name.strip("/")
        for index in range(count):
            try:
                values: dict[str, Any] = {}
                for label, array in labels.items():
                    if index >= len(array):
                        raise InvalidFileError(
                            f"group {group.name}: '{keys[label]}' has {len(array)} rows for {count} "
                            "conformers"
                        )
                    value = array[index]
                    if np.isnan(value).all():
                        missing[label] += 1
                        continue
                    values[label] = value
                molecule = (
                    Formula.from_list([chemical_symbols[z] for z in numbers[index]]).format("hill")
                    if per_conformer_numbers
                    else name
                )
                yield Structure(
                    numbers=numbers[index],
                    positions=coordinates[index],
                    energy=values.get("energy"),
                    forces=values.get("forces"),
                    dipole=values.get("dipole"),
                    charges=values.get("charges"),
                    config_type=name if per_conformer_numbers else "Default",
                    molecule=molecule,
                )
            except InvalidFileError:
                raise
            except Exception as error:
                yield as_error(error)
