"""Infrared spectrum from the autocorrelation of the dipole time derivative.

The classical line shape is

    I(nu) = integral over t of <mu'(0) . mu'(t)> w(t) cos(2 pi c nu t) dt,

with ``mu'`` the time derivative of the dipole (central differences), ``<>`` the average
over time origins (unbiased estimator), ``w`` a lag window that goes to zero at the
longest lag, and ``nu`` the wavenumber in cm^-1. I(nu) is proportional to the classical
absorption coefficient times the refractive index. An optional
quantum correction factor Q(nu) multiplies the line shape; the result is scaled to a
maximum of 1 unless ``normalize=False``.

Velocity Verlet with time step dt moves a harmonic line from omega to
(2 / dt) arcsin(omega dt / 2), which is about +18 cm^-1 at 3650 cm^-1 and dt = 0.5 fs
(+4.5 cm^-1 at 0.25 fs). ``integrator_timestep`` maps the wavenumber axis back with the
inverse, omega = (2 / dt) sin(omega' dt / 2), so that peaks compare with harmonic ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Speed of light in cm/fs.
SPEED_OF_LIGHT_CM_PER_FS = 2.99792458e-5
#: h c in eV cm (energy of a 1 cm^-1 photon in eV).
PLANCK_TIMES_C_EV_CM = 1.239841984e-4
#: Boltzmann constant in eV/K.
BOLTZMANN_EV_PER_K = 8.617333262e-5

WINDOWS = ("hann", "blackman", "none")
QUANTUM_CORRECTIONS = ("none", "harmonic", "schofield")


@dataclass
class IRSpectrum:
    """An IR spectrum: ``wavenumber`` in cm^-1 and ``intensity`` (arbitrary units) on the same grid."""

    wavenumber: np.ndarray
    intensity: np.ndarray

    def peaks(self, count: int = 5, min_wavenumber: float = 400.0, min_relative_height: float = 0.02) -> np.ndarray:
        """Return the wavenumbers (cm^-1) of up to ``count`` highest local maxima above ``min_wavenumber``.

        Maxima lower than ``min_relative_height`` times the highest one in the range are dropped.
        The result is sorted by wavenumber.
        """
        from scipy.signal import find_peaks

        region = self.wavenumber >= min_wavenumber
        wavenumber = self.wavenumber[region]
        intensity = self.intensity[region]
        if intensity.size < 3 or not np.any(intensity > 0):
            return np.empty(0)
        indices, _ = find_peaks(intensity, height=min_relative_height * intensity.max())
        strongest = indices[np.argsort(intensity[indices])[::-1][:count]]
        return np.sort(wavenumber[strongest])


def lag_window(name: str, length: int) -> np.ndarray:
    """Return the one-sided window over lags ``0 .. length - 1``: 1 at lag 0, 0 at the last lag (except ``none``)."""
    if name == "none":
        return np.ones(length)
    full = 2 * length - 1
    if name == "hann":
        return np.hanning(full)[length - 1 :]
    if name == "blackman":
        return np.clip(np.blackman(full)[length - 1 :], 0.0, None)
    raise ValueError(f"unknown window {name!r}; choose one of {', '.join(WINDOWS)}")


def autocorrelation(series: np.ndarray, max_lag: int) -> np.ndarray:
    """Return the unbiased autocorrelation ``C(k) = mean_n x(n) . x(n + k)`` for ``k = 0 .. max_lag``.

    ``series`` is ``[T]`` or ``[T, D]``; components are summed (a dot product). The FFT
    is zero-padded to at least ``2 T`` so that the correlation does not wrap around.
    """
    series = np.asarray(series, dtype=np.float64)
    if series.ndim == 1:
        series = series[:, None]
    length = series.shape[0]
    if not 0 <= max_lag < length:
        raise ValueError(f"max_lag must be in [0, {length - 1}] for a series of {length} points, got {max_lag}")
    size = 1 << int(np.ceil(np.log2(2 * length)))
    transform = np.fft.rfft(series, n=size, axis=0)
    correlation = np.fft.irfft((transform * transform.conj()).real, n=size, axis=0)[: max_lag + 1].sum(axis=1)
    return correlation / (length - np.arange(max_lag + 1))


def quantum_correction(wavenumber: np.ndarray, temperature: float, kind: str) -> np.ndarray:
    """Return the factor Q(nu) that multiplies the classical line shape.

    ``harmonic``: Q = x / (1 - exp(-x)), ``schofield``: Q = exp(x / 2), with
    x = h c nu / (k_B T). Both tend to 1 as x goes to 0; ``none`` returns ones.
    """
    if kind == "none":
        return np.ones_like(wavenumber)
    if kind not in QUANTUM_CORRECTIONS:
        raise ValueError(f"unknown quantum correction {kind!r}; choose one of {', '.join(QUANTUM_CORRECTIONS)}")
    if not temperature > 0:
        raise ValueError(f"the quantum correction needs a positive temperature, got {temperature} K")
    x = PLANCK_TIMES_C_EV_CM * np.asarray(wavenumber, dtype=np.float64) / (BOLTZMANN_EV_PER_K * temperature)
    if kind == "schofield":
        return np.exp(0.5 * x)
    factor = np.ones_like(x)
    nonzero = x > 1e-12
    factor[nonzero] = x[nonzero] / -np.expm1(-x[nonzero])
    return factor


def verlet_corrected_wavenumber(wavenumber: np.ndarray, timestep: float) -> np.ndarray:
    """Map wavenumbers (cm^-1) seen in velocity-Verlet MD at ``timestep`` (fs) to the true harmonic ones.

    Wavenumbers above the integrator's stability limit ``1 / (pi c timestep)`` become NaN.
    """
    if not timestep > 0:
        raise ValueError(f"the integrator time step must be positive, got {timestep} fs")
    half_angle = np.pi * SPEED_OF_LIGHT_CM_PER_FS * timestep * np.asarray(wavenumber, dtype=np.float64)
    corrected = np.sin(half_angle) / (np.pi * SPEED_OF_LIGHT_CM_PER_FS * timestep)
    return np.where(half_angle <= 0.5 * np.pi, corrected, np.nan)


def ir_spectrum(
    dipoles: np.ndarray,
    timestep: float,
    window: str = "hann",
    max_lag: float | None = None,
    zero_padding: int = 4,
    quantum_correction_kind: str = "none",
    temperature: float | None = None,
    normalize: bool = True,
    integrator_timestep: float | None = None,
) -> IRSpectrum:
    """Compute the IR spectrum of a dipole time series.

    Args:
        dipoles: ``[T, 3]`` dipole moments (e·Å) at equal time intervals.
        timestep: interval between the dipoles in fs. The highest wavenumber resolved is
            ``1 / (2 c timestep)`` (3336 cm^-1 at 5 fs), so use at most 2-3 fs for X-H stretches.
        window: lag window, one of ``hann``, ``blackman``, ``none``.
        max_lag: maximum correlation time (lag) in fs; ``None`` uses half the series. The
            resolution is about ``1 / (c max_lag)`` (33 cm^-1 at 1 ps).
        zero_padding: the windowed correlation is padded to this many times its length
            (rounded up to a power of two) before the transform, which interpolates the grid.
        quantum_correction_kind: ``none``, ``harmonic`` or ``schofield`` (see :func:`quantum_correction`).
        temperature: K, required by the quantum corrections.
        normalize: scale the intensity to a maximum of 1.
        integrator_timestep: MD time step in fs; when given, the wavenumber axis is corrected
            for the velocity-Verlet frequency shift (see :func:`verlet_corrected_wavenumber`)
            and points beyond the integrator's stability limit are dropped.
    """
    dipoles = np.asarray(dipoles, dtype=np.float64)
    if dipoles.ndim != 2 or dipoles.shape[1] != 3:
        raise ValueError(f"dipoles must have shape [T, 3], got {list(dipoles.shape)}")
    if dipoles.shape[0] < 8:
        raise ValueError(f"an IR spectrum needs at least 8 dipole frames, got {dipoles.shape[0]}")
    if not np.isfinite(dipoles).all():
        raise ValueError("the dipole series contains non-finite values; cut the trajectory before the first bad frame")
    if not timestep > 0:
        raise ValueError(f"timestep must be positive, got {timestep} fs")
    if zero_padding < 1:
        raise ValueError(f"zero_padding must be at least 1, got {zero_padding}")

    derivative = np.gradient(dipoles, timestep, axis=0)
    frames = dipoles.shape[0]
    lags = frames // 2 if max_lag is None else int(round(max_lag / timestep))
    if not 1 <= lags < frames:
        raise ValueError(
            f"max_lag={max_lag} fs gives {lags} lags; use between {timestep} and {(frames - 1) * timestep} fs"
        )
    correlation = autocorrelation(derivative, lags) * lag_window(window, lags + 1)

    size = 1 << int(np.ceil(np.log2(zero_padding * (lags + 1))))
    # Cosine transform of the even extension: C(0) + 2 sum_k C(k) cos(2 pi f k dt).
    transform = np.fft.rfft(correlation, n=size).real
    intensity = timestep * (2.0 * transform - correlation[0])
    wavenumber = np.fft.rfftfreq(size, d=timestep) / SPEED_OF_LIGHT_CM_PER_FS

    if integrator_timestep is not None:
        wavenumber = verlet_corrected_wavenumber(wavenumber, integrator_timestep)
        valid = np.isfinite(wavenumber)
        wavenumber, intensity = wavenumber[valid], intensity[valid]

    if quantum_correction_kind != "none":
        intensity = intensity * quantum_correction(wavenumber, temperature or 0.0, quantum_correction_kind)
    if normalize:
        peak = np.max(np.abs(intensity))
        if peak > 0:
            intensity = intensity / peak
    return IRSpectrum(wavenumber=wavenumber, intensity=intensity)
