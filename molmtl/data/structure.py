"""``Structure``: one molecule or periodic cell with its optional labels, as numpy arrays.

Units are ASE's: Å, eV, eV/Å, e, e·Å (dipole about the centre of mass), eV/Å^3 (stress,
ASE sign convention). A label is ``None`` when the source does not provide it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from molmtl.data.validation import InvalidStructureError, check_shape, stress_to_matrix

if TYPE_CHECKING:
    from ase import Atoms

#: Default info or arrays key of each label, read by :meth:`Structure.from_atoms` after the calculator.
DEFAULT_KEYS: dict[str, str] = {
    "energy": "energy",
    "forces": "forces",
    "dipole": "dipole",
    "charges": "charges",
    "stress": "stress",
    "total_charge": "charge",
}

DEFAULT_CONFIG_TYPE = "Default"


@dataclass
class Structure:
    """One structure: atoms, cell and optional labels in ASE units.

    ``numbers`` [N] atomic numbers; ``positions`` [N, 3] Å; ``cell`` [3, 3] Å with lattice
    vectors as rows (zeros when not periodic); ``pbc`` [3]; ``total_charge`` e; ``energy`` eV;
    ``forces`` [N, 3] eV/Å; ``dipole`` [3] e·Å about the centre of mass; ``charges`` [N] e;
    ``stress`` [3, 3] eV/Å^3 (6 Voigt or 9 components are converted); ``weight`` the
    structure's loss weight; ``spin_multiplicity`` 2S + 1 or ``None``.

    Building a ``Structure`` converts dtypes and checks shapes. Value checks (finite numbers,
    atomic numbers, distances) are in :func:`molmtl.data.validation.validate_structure`.
    """

    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray | None = None
    pbc: np.ndarray | None = None
    total_charge: float = 0.0
    energy: float | None = None
    forces: np.ndarray | None = None
    dipole: np.ndarray | None = None
    charges: np.ndarray | None = None
    stress: np.ndarray | None = None
    weight: float = 1.0
    config_type: str = DEFAULT_CONFIG_TYPE
    molecule: str = ""
    spin_multiplicity: int | None = None

    def __post_init__(self) -> None:
        numbers = np.asarray(self.numbers)
        if numbers.ndim != 1:
            raise InvalidStructureError(f"atomic numbers have shape {numbers.shape}; a 1-D array is expected")
        if numbers.size and not np.all(np.equal(np.mod(numbers, 1), 0)):
            raise InvalidStructureError(f"atomic numbers must be integers, got {numbers[:5]}")
        if numbers.size == 0:
            raise InvalidStructureError("structure has no atoms; remove it from the input")
        self.numbers = numbers.astype(np.int64, copy=False)
        n_atoms = len(self.numbers)

        self.positions = np.asarray(self.positions, dtype=np.float64)
        check_shape("positions", self.positions, (n_atoms, 3))
        self.cell = np.zeros((3, 3)) if self.cell is None else np.asarray(self.cell, dtype=np.float64)
        if self.cell.shape == (3,):
            self.cell = np.diag(self.cell)
        check_shape("cell", self.cell, (3, 3))
        self.pbc = (
            np.zeros(3, dtype=bool)
            if self.pbc is None
            else np.broadcast_to(np.asarray(self.pbc, dtype=bool), (3,)).copy()
        )
        self.total_charge = _to_scalar("total charge", self.total_charge)
        self.weight = _to_scalar("weight", self.weight)

        if self.energy is not None:
            self.energy = _to_scalar("energy", self.energy)
        if self.forces is not None:
            self.forces = np.asarray(self.forces, dtype=np.float64)
            check_shape("forces", self.forces, (n_atoms, 3))
        if self.dipole is not None:
            self.dipole = (
                np.asarray(self.dipole, dtype=np.float64).reshape(-1)
                if np.size(self.dipole) == 3
                else np.asarray(self.dipole, dtype=np.float64)
            )
            check_shape("dipole", self.dipole, (3,))
        if self.charges is not None:
            self.charges = np.asarray(self.charges, dtype=np.float64)
            check_shape("charges", self.charges, (n_atoms,))
        if self.stress is not None:
            self.stress = stress_to_matrix(self.stress)
        if self.spin_multiplicity is not None:
            self.spin_multiplicity = int(self.spin_multiplicity)
        self.config_type = str(self.config_type) if self.config_type is not None else DEFAULT_CONFIG_TYPE
        self.molecule = str(self.molecule) if self.molecule is not None else ""

    def __len__(self) -> int:
        return len(self.numbers)

    @property
    def labels(self) -> dict[str, Any]:
        """The labels that are present, by name."""
        names = ("energy", "forces", "dipole", "charges", "stress")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def centre_of_mass(self) -> np.ndarray:
        """Return the centre of mass (Å) with ASE's standard atomic masses."""
        from ase.data import atomic_masses

        masses = atomic_masses[self.numbers]
        return masses @ self.positions / masses.sum()

    @classmethod
    def from_atoms(
        cls,
        atoms: Atoms,
        keys: Mapping[str, str | None] | None = None,
        *,
        use_calculator: bool = True,
        config_type: str | None = None,
        molecule: str | None = None,
    ) -> Structure:
        """Build a ``Structure`` from ASE ``Atoms``.

        Each label is taken from ``atoms.info`` (per-structure) or ``atoms.arrays``
        (per-atom) under the name in ``keys`` (defaults in :data:`DEFAULT_KEYS`). When the
        key is absent there and ``use_calculator`` is true, the calculator's stored result of
        the same property is used. A key mapped to ``None`` is not read. The dipole is taken
        as it is, so it must already be about the centre of mass for charged structures.
        """
        names = dict(DEFAULT_KEYS)
        if keys:
            names.update(keys)
        results: Mapping[str, Any] = {}
        if use_calculator and atoms.calc is not None:
            results = getattr(atoms.calc, "results", {}) or {}

        def lookup(label: str) -> Any:
            key = names.get(label)
            if key is None:
                return None
            if key in atoms.info:
                return atoms.info[key]
            if key in atoms.arrays:
                return atoms.arrays[key]
            calculator_name = {"charges": "charges", "total_charge": "charge"}.get(label, label)
            return results.get(key, results.get(calculator_name))

        total_charge = lookup("total_charge")
        spin = atoms.info.get("spin_multiplicity")
        return cls(
            numbers=atoms.numbers,
            positions=atoms.positions,
            cell=atoms.cell.array,
            pbc=atoms.pbc,
            total_charge=0.0 if total_charge is None else total_charge,
            energy=lookup("energy"),
            forces=lookup("forces"),
            dipole=lookup("dipole"),
            charges=lookup("charges"),
            stress=lookup("stress"),
            weight=atoms.info.get("weight", 1.0),
            config_type=config_type
            if config_type is not None
            else atoms.info.get("config_type", DEFAULT_CONFIG_TYPE),
            molecule=molecule if molecule is not None else atoms.info.get("molecule", ""),
            spin_multiplicity=spin,
        )

    def to_atoms(self) -> Atoms:
        """Return ASE ``Atoms`` with the labels in a ``SinglePointCalculator`` and in info/arrays.

        The calculator contains ``energy``, ``forces``, ``stress`` (6 Voigt components),
        ``dipole`` and ``charges``. The same labels are copied to ``info`` (energy, dipole,
        stress as 3x3) and ``arrays`` (forces, charges) under the names ``REF_<label>``,
        so that they survive writing to extxyz next to the calculator's values.
        ``info["charge"]`` holds the total charge.
        """
        from ase import Atoms
        from ase.calculators.singlepoint import SinglePointCalculator
        from ase.stress import full_3x3_to_voigt_6_stress

        atoms = Atoms(numbers=self.numbers, positions=self.positions, cell=self.cell, pbc=self.pbc)
        atoms.info["charge"] = self.total_charge
        atoms.info["weight"] = self.weight
        atoms.info["config_type"] = self.config_type
        if self.molecule:
            atoms.info["molecule"] = self.molecule
        if self.spin_multiplicity is not None:
            atoms.info["spin_multiplicity"] = self.spin_multiplicity

        results: dict[str, Any] = {}
        if self.energy is not None:
            results["energy"] = self.energy
            atoms.info["REF_energy"] = self.energy
        if self.forces is not None:
            results["forces"] = self.forces.copy()
            atoms.arrays["REF_forces"] = self.forces.copy()
        if self.stress is not None:
            results["stress"] = full_3x3_to_voigt_6_stress(self.stress)
            atoms.info["REF_stress"] = self.stress.copy()
        if self.dipole is not None:
            results["dipole"] = self.dipole.copy()
            atoms.info["REF_dipole"] = self.dipole.copy()
        if self.charges is not None:
            results["charges"] = self.charges.copy()
            atoms.arrays["REF_charges"] = self.charges.copy()
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
        return atoms


def _to_scalar(name: str, value: Any) -> float:
    array = np.asarray(value, dtype=np.float64)
    if array.size != 1:
        raise InvalidStructureError(f"{name} has shape {array.shape}; one number per structure is expected")
    return float(array.reshape(()))
