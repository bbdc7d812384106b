"""Importer for the rMD17 ``.npz`` layout.

Arrays: ``nuclear_charges`` [N], ``coords`` [C, N, 3] Å, ``energies`` [C] kcal/mol and
``forces`` [C, N, 3] kcal/mol/Å (Christensen and von Lilienfeld, Mach. Learn.: Sci.
Technol. 1, 045018, 2020). Energies and forces are converted to eV and eV/Å with
:mod:`ase.units`. The molecule name is taken from the file name (``rmd17_<name>.npz``).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from molmtl.data import units
from molmtl.data.importers.base import Importer, StructureOrError, as_error
from molmtl.data.structure import Structure
from molmtl.data.validation import InvalidFileError

DEFAULT_KEYS = {"energy": "energies", "forces": "forces"}
REQUIRED = ("nuclear_charges", "coords")


class Rmd17Importer(Importer):
    """rMD17 ``.npz`` files (kcal/mol, Å)."""

    name = "rmd17"
    keyed_labels = ("energy", "forces")
    description = "rMD17 .npz (nuclear_charges, coords, energies kcal/mol, forces kcal/mol/Angstrom)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        if path.suffix.lower() != ".npz":
            return False
        try:
            with np.load(path) as archive:
                return all(name in archive.files for name in REQUIRED)
        except (OSError, ValueError, zipfile.BadZipFile):
            return False

    def structures(self) -> Iterator[StructureOrError]:
        try:
            archive = np.load(self.path)
            arrays = {name: archive[name] for name in archive.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise InvalidFileError(
                f"{self.path} is not a readable .npz archive ({error}); the file is truncated or corrupt"
            ) from error
        for name in REQUIRED:
            if name not in arrays:
                raise InvalidFileError(
                    f"{self.path} has no '{name}' array; the rMD17 layout needs {REQUIRED}, the file has "
                    f"{sorted(arrays)}"
                )

        keys = {}
        for label, default in DEFAULT_KEYS.items():
            if self.options.disabled(label):
                continue
            requested = self.options.key(label)
            if requested and requested not in arrays:
                raise InvalidFileError(
                    f"--{label}-key {requested!r} matches nothing in {self.path}; its arrays are: "
                    f"{', '.join(sorted(arrays))}"
                )
            keys[label] = requested or default

        energy_factor = units.energy_factor(self.options.energy_unit or "kcal/mol")
        length_factor = units.length_factor(self.options.length_unit or "angstrom")
        forces_factor = (
            units.force_factor(self.options.forces_unit)
            if self.options.forces_unit
            else energy_factor / length_factor
        )
        numbers = np.asarray(arrays["nuclear_charges"]).reshape(-1)
        coords = np.asarray(arrays["coords"], dtype=np.float64)
        if coords.ndim == 2:
            coords = coords[None]
        if coords.shape[0] == 0:
            raise InvalidFileError(f"{self.path} contains no structures")
        energies = arrays.get(keys.get("energy", ""))
        forces = arrays.get(keys.get("forces", ""))
        if energies is not None:
            energies = np.asarray(energies, dtype=np.float64).reshape(-1)
        molecule = self.path.stem.removeprefix("rmd17_")
        self.notes["units_in"] = {
            "energy": self.options.energy_unit or "kcal/mol",
            "length": self.options.length_unit or "angstrom",
        }

        for index in range(coords.shape[0]):
            try:
                yield Structure(
                    numbers=numbers,
                    positions=coords[index] * length_factor,
                    energy=None if energies is None else _item(energies, index, "energies") * energy_factor,
                    forces=None if forces is None else _item(forces, index, "forces") * forces_factor,
                    molecule=molecule,
                )
            except Exception as error:
                yield as_error(error)


def _item(array: np.ndarray, index: int, name: str) -> np.ndarray:
    if index >= len(array):
        raise InvalidFileError(
            f"'{name}' has {len(array)} entries but the file has more conformations; the arrays do not match"
        )
    return np.asarray(array[index], dtype=np.float64)
