"""Vibrational spectra: IR from the dipole autocorrelation of MD, and the harmonic reference."""

from molmtl.spectra.ir import IRSpectrum, ir_spectrum

__all__ = ["IRSpectrum", "ir_spectrum"]
