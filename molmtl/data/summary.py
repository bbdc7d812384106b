"""Running summary of a set of structures: counts, elements, label coverage and value ranges.

Used by ``molmtl convert`` (while importing) and ``molmtl info`` (while reading a file). The
memory it needs does not grow with the number of structures.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase.data import chemical_symbols

from molmtl.data.structure import Structure

LABEL_NAMES = ("energy", "forces", "dipole", "charges", "stress")


@dataclass
class _Range:
    minimum: float = np.inf
    maximum: float = -np.inf

    def update(self, values: np.ndarray) -> None:
        if values.size:
            self.minimum = min(self.minimum, float(values.min()))
            self.maximum = max(self.maximum, float(values.max()))

    def text(self, unit: str) -> str:
        return f"{self.minimum:.6g} .. {self.maximum:.6g} {unit}" if self.minimum <= self.maximum else "-"


@dataclass
class DatasetSummary:
    """Accumulates counts and ranges over structures added with :meth:`add`."""

    num_structures: int = 0
    num_atoms: int = 0
    atoms_per_structure: _Range = field(default_factory=_Range)
    element_counts: Counter = field(default_factory=Counter)
    label_counts: Counter = field(default_factory=Counter)
    total_charges: Counter = field(default_factory=Counter)
    periodic: int = 0
    ranges: dict[str, _Range] = field(
        default_factory=lambda: {
            name: _Range()
            for name in ("energy", "energy_per_atom", "force_component", "dipole_norm", "charges", "stress")
        }
    )

    def add(self, structure: Structure) -> None:
        """Add one structure to the counts and ranges."""
        self.num_structures += 1
        n_atoms = len(structure)
        self.num_atoms += n_atoms
        self.atoms_per_structure.update(np.array([n_atoms]))
        self.element_counts.update(structure.numbers.tolist())
        self.total_charges[structure.total_charge] += 1
        self.periodic += int(structure.pbc.any())
        for name in LABEL_NAMES:
            if getattr(structure, name) is not None:
                self.label_counts[name] += 1
        if structure.energy is not None:
            self.ranges["energy"].update(np.array([structure.energy]))
            self.ranges["energy_per_atom"].update(np.array([structure.energy / n_atoms]))
        if structure.forces is not None:
            self.ranges["force_component"].update(structure.forces)
        if structure.dipole is not None:
            self.ranges["dipole_norm"].update(np.array([np.linalg.norm(structure.dipole)]))
        if structure.charges is not None:
            self.ranges["charges"].update(structure.charges)
        if structure.stress is not None:
            self.ranges["stress"].update(structure.stress)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as plain Python values."""
        return {
            "num_structures": self.num_structures,
            "num_atoms": self.num_atoms,
            "elements": {chemical_symbols[z]: count for z, count in sorted(self.element_counts.items())},
            "label_counts": {name: self.label_counts.get(name, 0) for name in LABEL_NAMES},
            "total_charges": {float(q): count for q, count in sorted(self.total_charges.items())},
            "periodic_structures": self.periodic,
            "ranges": {
                name: (r.minimum, r.maximum) for name, r in self.ranges.items() if r.minimum <= r.maximum
            },
        }

    def text(self) -> str:
        """Return a human-readable multi-line summary."""
        n = max(self.num_structures, 1)
        elements = ", ".join(
            f"{chemical_symbols[z]} {count}" for z, count in sorted(self.element_counts.items())
        )
        charges = ", ".join(f"{q:+g}: {count}" for q, count in sorted(self.total_charges.items()))
        lines = [
            f"structures: {self.num_structures} ({self.num_atoms} atoms, "
            f"{self.atoms_per_structure.text('atoms per structure')}, {self.periodic} periodic)",
            f"elements (atoms): {elements}",
            f"total charge (structures): {charges}",
            "label coverage:",
        ]
        for name in LABEL_NAMES:
            count = self.label_counts.get(name, 0)
            lines.append(f"  {name:8s} {count:8d} / {self.num_structures} ({100.0 * count / n:5.1f} %)")
        lines.append("ranges:")
        units = {
            "energy": "eV",
            "energy_per_atom": "eV/atom",
            "force_component": "eV/Angstrom",
            "dipole_norm": "e*Angstrom",
            "charges": "e",
            "stress": "eV/Angstrom^3",
        }
        for name, value_range in self.ranges.items():
            if value_range.minimum <= value_range.maximum:
                lines.append(f"  {name:16s} {value_range.text(units[name])}")
        return "\n".join(lines)
