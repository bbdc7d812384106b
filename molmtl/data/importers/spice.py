"""Importer for the SPICE HDF5 layout.

One group per molecule with ``atomic_numbers`` [N], ``conformations`` [C, N, 3] (bohr),
``dft_total_energy`` [C] (hartree), ``dft_total_gradient`` [C, N, 3] (hartree/bohr),
``scf_dipole`` [C, 3] (e·bohr), ``mbis_charges`` [C, N, 1] (e), ``smiles`` and ``subset``.
Units are read from each dataset's ``units`` attribute where present, with those values as
the defaults. Forces are the negative gradient.

Total charge: the sum of the formal charges of the group's SMILES (RDKit), or the rounded
sum of the MBIS charges when the SMILES cannot be parsed.

Dipole reference: SPICE's ``scf_dipole`` is about the coordinate origin (for the charged
molecules of the SPICE 1.1.4 sample, sum_i q_i r_i + sum_i p_i from the MBIS charges and
atomic dipoles about the origin reproduces it). It is moved to the centre of mass with
mu_com = mu_origin - Q r_com, and the provenance records this.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from molmtl.data import units
from molmtl.data.importers.base import Importer, StructureOrError, as_error
from molmtl.data.structure import DEFAULT_CONFIG_TYPE, Structure
from molmtl.data.validation import InvalidFileError, InvalidStructureError

DEFAULT_KEYS = {
    "energy": "dft_total_energy",
    "forces": "dft_total_gradient",
    "dipole": "scf_dipole",
    "charges": "mbis_charges",
}
DEFAULT_UNITS = {
    "conformations": "bohr",
    "dft_total_energy": "hartree",
    "dft_total_gradient": "hartree/bohr",
    "scf_dipole": "elementary_charge*bohr",
    "mbis_charges": "elementary_charge",
}
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")


def smiles_charge(smiles: str) -> int | None:
    """Return the sum of formal charges in ``smiles`` or ``None`` when RDKit cannot parse it."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    molecule = Chem.MolFromSmiles(smiles, sanitize=False)
    if molecule is None:
        return None
    return sum(atom.GetFormalCharge() for atom in molecule.GetAtoms())


def _text(dataset: Any) -> str:
    value = dataset[()]
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    return value.decode() if isinstance(value, bytes) else str(value)


def open_hdf5(path: Path) -> Any:
    """Open ``path`` read-only with h5py; raise :class:`InvalidFileError` when it is not readable HDF5."""
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise InvalidFileError(
            f"{path} is not a readable HDF5 file ({error}); it is truncated or corrupt"
        ) from error


class SpiceImporter(Importer):
    """SPICE HDF5 files (hartree, bohr; forces from the gradient)."""

    name = "spice"
    keyed_labels = ("energy", "forces", "dipole", "charges")
    fixes_dipole_reference = True
    description = "SPICE HDF5 (hartree, bohr, gradients -> forces, dipole moved to the centre of mass)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        if path.suffix.lower() not in HDF5_SUFFIXES:
            return False
        try:
            import h5py

            with h5py.File(path, "r") as file:
                first = next(iter(file.values()), None)
                if not isinstance(first, h5py.Group):
                    return False
                return "conformations" in first and "atomic_numbers" in first
        except OSError:
            return False

    def structures(self) -> Iterator[StructureOrError]:
        file = open_hdf5(self.path)
        with file:
            groups = list(file.values())
            if not groups:
                raise InvalidFileError(f"{self.path} contains no molecule groups")
            keys = self._keys(groups)
            found: set[str] = set()
            moved = 0
            for group in groups:
                if "conformations" not in group or "atomic_numbers" not in group:
                    raise InvalidFileError(
                        f"group {group.name} of {self.path} lacks 'conformations' or 'atomic_numbers'; "
                        "this is not the SPICE layout"
                    )
                for label, key in keys.items():
                    if key in group:
                        found.add(label)
                for item in self._group_structures(group, keys):
                    if isinstance(item, Structure) and item.dipole is not None and item.total_charge != 0:
                        moved += 1
                    yield item
            available = {name: None for group in groups for name in group}
            self.require_keys_found(available, found, "molecule groups")
        self.notes["dipole_reference"] = (
            "scf_dipole is about the coordinate origin; moved to the centre of mass with mu - Q r_com "
            f"for {moved} charged structures"
        )
        self.notes["forces"] = f"forces = -{keys.get('forces')}"
        self.notes["total_charge"] = "sum of SMILES formal charges (RDKit)"

    def _keys(self, groups: list[Any]) -> dict[str, str]:
        keys = {}
        for label, default in DEFAULT_KEYS.items():
            if not self.options.disabled(label):
                keys[label] = self.options.key(label) or default
        return keys

    def _unit(self, dataset: Any, name: str) -> str:
        value = dataset.attrs.get("units", DEFAULT_UNITS.get(name, ""))
        return value.decode() if isinstance(value, bytes) else str(value)

    def _group_structures(self, group: Any, keys: dict[str, str]) -> Iterator[StructureOrError]:
        numbers = group["atomic_numbers"][()].astype(np.int64)
        coordinates = group["conformations"]
        positions = coordinates[()].astype(np.float64) * units.length_factor(
            self.options.length_unit or self._unit(coordinates, "conformations")
        )
        name = group.name.strip("/")
        smiles = _text(group["smiles"]) if "smiles" in group else ""
        subset = _text(group["subset"]) if "subset" in group else DEFAULT_CONFIG_TYPE
        total_charge = smiles_charge(smiles) if smiles else None

        labels: dict[str, np.ndarray] = {}
        for label, key in keys.items():
            if key not in group:
                continue
            dataset = group[key]
            values = dataset[()].astype(np.float64)
            unit = self._unit(dataset, key)
            if label == "energy":
                values = values * units.energy_factor(self.options.energy_unit or unit)
            elif label == "forces":
                values = -values * units.force_factor(self.options.forces_unit or unit)
            elif label == "dipole":
                values = values * units.dipole_factor(self.options.dipole_unit or unit)
            elif label == "charges":
                values = values.reshape(values.shape[0], -1) * units.charge_factor(unit or "e")
            labels[label] = values
        if total_charge is None and "charges" in labels:
            total_charge = int(np.rint(labels["charges"][0].sum()))
        if total_charge is None:
            total_charge = 0

        for index in range(positions.shape[0]):
            try:
                values = {label: array[index] for label, array in labels.items()}
                structure = Structure(
                    numbers=numbers,
                    positions=positions[index],
                    total_charge=float(total_charge),
                    energy=values.get("energy"),
                    forces=values.get("forces"),
                    charges=values.get("charges"),
                    config_type=subset,
                    molecule=name,
                )
                if "dipole" in values:
                    dipole = np.asarray(values["dipole"], dtype=np.float64).reshape(-1)
                    if dipole.shape != (3,):
                        raise InvalidStructureError(
                            f"dipole of group {name} has {dipole.size} components; 3 are expected"
                        )
                    structure.dipole = dipole - structure.total_charge * structure.centre_of_mass()
                yield structure
            except Exception as error:
                yield as_error(error)
