"""Harmonic IR reference: ASE's finite-difference ``Infrared`` with any calculator that gives dipoles."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms
    from ase.calculators.calculator import Calculator


@dataclass
class HarmonicModes:
    """Real vibrational modes: ``wavenumber`` in cm^-1 and IR ``intensity`` in (D/Å)^2 amu^-1."""

    wavenumber: np.ndarray
    intensity: np.ndarray

    def strongest(self, count: int, min_wavenumber: float = 400.0) -> np.ndarray:
        """Return the wavenumbers of the ``count`` most intense modes above ``min_wavenumber``, sorted."""
        region = np.flatnonzero(self.wavenumber >= min_wavenumber)
        chosen = region[np.argsort(self.intensity[region])[::-1][:count]]
        return np.sort(self.wavenumber[chosen])


def harmonic_ir(atoms: Atoms, calculator: Calculator, delta: float = 0.01, nfree: int = 2) -> HarmonicModes:
    """Compute harmonic frequencies and IR intensities of ``atoms`` (a relaxed geometry) by finite differences.

    ``delta`` is the displacement in Å and ``nfree`` the number of displacements per
    coordinate (2 or 4), as in :class:`ase.vibrations.Infrared`. Translations, rotations
    and imaginary modes are dropped. The displacement cache lives in a temporary folder.
    """
    from ase.vibrations import Infrared

    work = atoms.copy()
    work.calc = calculator
    with tempfile.TemporaryDirectory(prefix="molmtl-ir-") as folder:
        infrared = Infrared(work, name=f"{folder}/ir", delta=delta, nfree=nfree)
        infrared.run()
        energies = infrared.get_energies()
        intensities = np.asarray(infrared.intensities, dtype=np.float64)
    wavenumber = np.real(energies) / 1.239841984e-4  # eV -> cm^-1
    real = (np.abs(np.imag(energies)) < 1e-12) & (wavenumber > 50.0)
    order = np.argsort(wavenumber[real])
    return HarmonicModes(wavenumber=wavenumber[real][order], intensity=intensities[real][order])


def match_peaks(md_peaks: np.ndarray, harmonic: np.ndarray) -> np.ndarray:
    """Return, for each harmonic wavenumber, the nearest MD peak (NaN when there are no MD peaks)."""
    md_peaks = np.asarray(md_peaks, dtype=np.float64)
    if md_peaks.size == 0:
        return np.full(len(harmonic), np.nan)
    return np.array([md_peaks[np.argmin(np.abs(md_peaks - value))] for value in harmonic])
