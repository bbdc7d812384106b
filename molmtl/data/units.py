"""Unit names accepted by the importers and their factors to ASE units (eV, Å, e).

Energy units: eV, meV, hartree (Ha), kcal/mol, kJ/mol, Ry. Length units: angstrom (Å, Ang),
bohr, nm. A force unit is written ``<energy>/<length>`` and a dipole unit ``e*<length>``
or ``debye``. Factors come from :mod:`ase.units` (CODATA 2014 in ase 3.29).
"""

from __future__ import annotations

from ase import units as ase_units

ENERGY: dict[str, float] = {
    "ev": 1.0,
    "mev": 1e-3,
    "hartree": ase_units.Hartree,
    "ha": ase_units.Hartree,
    "kcal/mol": ase_units.kcal / ase_units.mol,
    "kj/mol": ase_units.kJ / ase_units.mol,
    "ry": ase_units.Ry,
    "rydberg": ase_units.Ry,
}

LENGTH: dict[str, float] = {
    "angstrom": 1.0,
    "ang": 1.0,
    "a": 1.0,
    "å": 1.0,
    "bohr": ase_units.Bohr,
    "a0": ase_units.Bohr,
    "nm": 10.0,
    "nanometer": 10.0,
}

CHARGE: dict[str, float] = {"e": 1.0, "elementary_charge": 1.0}


def _normalise(unit: str) -> str:
    return unit.strip().lower().replace(" ", "").replace("^1", "")


def energy_factor(unit: str) -> float:
    """Return the factor that converts an energy in ``unit`` to eV."""
    key = _normalise(unit)
    if key not in ENERGY:
        raise ValueError(f"unknown energy unit {unit!r}; use one of {sorted(ENERGY)}")
    return ENERGY[key]


def length_factor(unit: str) -> float:
    """Return the factor that converts a length in ``unit`` to Å."""
    key = _normalise(unit)
    if key not in LENGTH:
        raise ValueError(f"unknown length unit {unit!r}; use one of {sorted(LENGTH)}")
    return LENGTH[key]


def force_factor(unit: str) -> float:
    """Return the factor that converts a force in ``<energy>/<length>`` (e.g. ``hartree/bohr``) to eV/Å."""
    key = _normalise(unit)
    energy, separator, length = key.rpartition("/")
    if not separator or not energy:
        raise ValueError(
            f"force unit {unit!r} must be written <energy>/<length>, for example hartree/bohr or "
            "kcal/mol/angstrom"
        )
    return energy_factor(energy) / length_factor(length)


def dipole_factor(unit: str) -> float:
    """Return the factor that converts a dipole in ``e*<length>`` or ``debye`` to e·Å."""
    key = _normalise(unit)
    if key in ("debye", "d"):
        return ase_units.Debye
    for prefix in ("elementary_charge*", "e*", "e"):
        if key.startswith(prefix) and key[len(prefix) :] in LENGTH:
            return length_factor(key[len(prefix) :])
    raise ValueError(f"unknown dipole unit {unit!r}; use e*angstrom, e*bohr, e*nm or debye")


def charge_factor(unit: str) -> float:
    """Return the factor that converts a charge in ``unit`` to e."""
    key = _normalise(unit)
    if key not in CHARGE:
        raise ValueError(f"unknown charge unit {unit!r}; use e")
    return CHARGE[key]
