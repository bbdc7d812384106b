"""Base class of the importers: one subclass per input layout.

An importer turns one input file into a stream of :class:`~molmtl.data.structure.Structure`
in ASE units. Structures that cannot be built are yielded as
:class:`~molmtl.data.validation.InvalidStructureError` so that the caller can apply
``on_bad`` and carry on. Files that cannot be read at all raise
:class:`~molmtl.data.validation.InvalidFileError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from molmtl.data.structure import Structure
from molmtl.data.validation import InvalidFileError, InvalidStructureError

#: Labels whose source key can be chosen on the command line.
KEYED_LABELS = ("energy", "forces", "dipole", "charges", "stress", "total_charge")

#: Key value that switches a label off.
NO_KEY = "none"


@dataclass
class ImportOptions:
    """Choices shared by the importers.

    ``keys`` maps a label (see :data:`KEYED_LABELS`) to its name in the input, and a key set here
    that matches nothing in the file is an error. Units, when set, override what the file
    or the layout's convention gives (``forces_unit`` defaults to energy/length).
    ``dipole_reference`` states the point the input dipoles are taken about,
    ``"centre_of_mass"`` (stored as given) or ``"origin"`` (moved to the centre of mass on
    import); importers whose layout fixes the convention ignore it.
    """

    keys: dict[str, str] = field(default_factory=dict)
    energy_unit: str | None = None
    length_unit: str | None = None
    forces_unit: str | None = None
    dipole_unit: str | None = None
    dipole_reference: str = "centre_of_mass"

    def key(self, label: str) -> str | None:
        """Return the requested key of ``label`` or ``None`` when it is not set."""
        return self.keys.get(label)

    def disabled(self, label: str) -> bool:
        """Return whether the user switched ``label`` off with ``--<label>-key none``."""
        return (self.keys.get(label) or "").lower() == NO_KEY


StructureOrError = Structure | InvalidStructureError


class Importer(ABC):
    """Reads one file layout; subclasses set ``name`` and implement :meth:`structures`."""

    name: str = ""
    description: str = ""
    #: True when the importer itself returns dipoles about the centre of mass whatever the input.
    fixes_dipole_reference: bool = False
    #: Labels whose key this layout lets the user choose.
    keyed_labels: tuple[str, ...] = KEYED_LABELS

    def __init__(self, path: str | Path, options: ImportOptions | None = None) -> None:
        self.path = Path(path)
        self.options = options or ImportOptions()
        self.notes: dict[str, Any] = {}
        unsupported = [label for label in self.options.keys if label not in self.keyed_labels]
        if unsupported:
            options = ", ".join(f"--{label.replace('_', '-')}-key" for label in unsupported)
            usable = ", ".join(f"--{label.replace('_', '-')}-key" for label in self.keyed_labels)
            raise ValueError(f"{options} cannot be used with the {self.name} layout, which accepts {usable}")
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path} not found")
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise InvalidFileError(
                f"{self.path} is empty (0 bytes); check that the download or copy finished"
            )

    @classmethod
    @abstractmethod
    def detect(cls, path: Path) -> bool:
        """Return whether ``path`` looks like this layout (cheap: suffix and a peek inside)."""

    @abstractmethod
    def structures(self) -> Iterator[StructureOrError]:
        """Yield the structures of the file in ASE units, or an error for each one that cannot be built."""

    def provenance(self) -> dict[str, Any]:
        """Return what this import did that a reader of the output should know (units, conventions)."""
        return {"format": self.name, **self.notes}

    def require_keys_found(self, available: Mapping[str, object], found: set[str], where: str) -> None:
        """Raise :class:`InvalidFileError` if a key requested by the user matched nothing in the file.

        ``found`` contains the requested labels whose key matched at least one structure, and
        ``available`` the names the file has (printed in the message).
        """
        for label in KEYED_LABELS:
            key = self.options.key(label)
            if key is None or self.options.disabled(label) or label in found:
                continue
            names = ", ".join(sorted(available)) or "(none)"
            raise InvalidFileError(
                f"--{label.replace('_', '-')}-key {key!r} matches nothing in {self.path}; the keys in "
                f"its {where} are: {names}"
            )


def as_error(error: Exception) -> InvalidStructureError:
    """Wrap a conversion failure of one structure as :class:`InvalidStructureError`."""
    if isinstance(error, InvalidStructureError):
        return error
    return InvalidStructureError(str(error))


def match_labels(
    label_keys: Mapping[str, Sequence[str]], lookup: Callable[[str], Any], found: set[str]
) -> dict[str, Any]:
    """Return the value of the first candidate key that ``lookup`` finds for each label.

    ``label_keys`` maps a label to its candidate keys in order of preference, and ``lookup``
    returns ``None`` for a key the record does not have. Labels with a value are added to
    ``found``, which the importers use to report requested keys that matched nothing.
    """
    values: dict[str, Any] = {}
    for label, candidates in label_keys.items():
        for key in candidates:
            value = lookup(key)
            if value is not None:
                values[label] = value
                found.add(label)
                break
    return values


def labelled_structure(
    atoms: Any, values: Mapping[str, Any], factors: Mapping[str, float], **metadata: Any
) -> Structure:
    """Build a :class:`Structure` from ASE ``atoms`` and the label ``values`` matched for them.

    ``factors`` converts the file's units to molmtl's (keys ``length``, ``energy``,
    ``forces``, ``dipole`` and ``stress``; charges are taken in e). ``metadata`` passes
    ``weight``, ``config_type``, ``molecule`` and ``spin_multiplicity`` through.
    """
    def scaled(label: str, factor: float) -> Any:
        value = values.get(label)
        return None if value is None else np.asarray(value, dtype=np.float64) * factor

    length = factors["length"]
    total_charge = values.get("total_charge")
    return Structure(
        numbers=atoms.numbers,
        positions=atoms.positions * length,
        cell=atoms.cell.array * length,
        pbc=atoms.pbc,
        total_charge=0.0 if total_charge is None else total_charge,
        energy=scaled("energy", factors["energy"]),
        forces=scaled("forces", factors["forces"]),
        dipole=scaled("dipole", factors["dipole"]),
        charges=scaled("charges", 1.0),
        stress=scaled("stress", factors["stress"]),
        **metadata,
    )
