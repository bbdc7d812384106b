"""Reading dipole series from extxyz trajectories, and writing IR spectra as CSV and plots."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from molmtl.atomic_io import atomic_path, atomic_write_text

if TYPE_CHECKING:
    from molmtl.spectra.harmonic import HarmonicModes
    from molmtl.spectra.ir import IRSpectrum


def read_dipole_series(path: str | os.PathLike[str], timestep: float | None = None) -> tuple[np.ndarray, float]:
    """Read ``[T, 3]`` dipoles (e·Å) and the frame interval (fs) from an extxyz trajectory.

    The interval comes from the ``time_fs`` frame info written by ``molmtl md``; pass
    ``timestep`` (fs) for trajectories without it. Frames must be equally spaced in time.
    """
    from ase.io import read

    frames = read(path, index=":")
    if len(frames) < 2:
        raise ValueError(f"{path} contains {len(frames)} frame(s); an IR spectrum needs at least 2 frames of a trajectory")
    dipoles = []
    for index, frame in enumerate(frames):
        dipole = frame.calc.results.get("dipole") if frame.calc is not None else None
        if dipole is None:
            dipole = frame.info.get("dipole")
        if dipole is None:
            raise ValueError(
                f"frame {index} of {path} has no dipole; write the trajectory with a model that predicts dipoles"
            )
        dipoles.append(np.asarray(dipole, dtype=np.float64).reshape(3))
    if timestep is None:
        times = [frame.info.get("time_fs") for frame in frames]
        if any(time is None for time in times):
            raise ValueError(f"{path} has no time_fs in its frames; give the frame interval in fs")
        steps = np.diff(np.asarray(times, dtype=np.float64))
        timestep = float(steps[0])
        if not np.allclose(steps, timestep, rtol=1e-6, atol=1e-9):
            raise ValueError(
                f"the frames of {path} are not equally spaced in time (intervals {steps.min()}..{steps.max()} fs)"
            )
    return np.stack(dipoles), float(timestep)


def write_spectrum_csv(spectrum: IRSpectrum, path: str | os.PathLike[str], max_wavenumber: float = 4500.0) -> None:
    """Write ``wavenumber_cm-1,intensity`` rows up to ``max_wavenumber`` (atomically)."""
    keep = spectrum.wavenumber <= max_wavenumber
    lines = ["wavenumber_cm-1,intensity"]
    lines += [f"{w:.4f},{i:.8e}" for w, i in zip(spectrum.wavenumber[keep], spectrum.intensity[keep])]
    atomic_write_text("\n".join(lines) + "\n", path)


def plot_spectrum(
    spectrum: IRSpectrum,
    path: str | os.PathLike[str],
    harmonic: HarmonicModes | None = None,
    max_wavenumber: float = 4500.0,
    title: str = "IR spectrum from dipole autocorrelation",
) -> None:
    """Plot the spectrum (and harmonic sticks, scaled to the tallest, when given) to an image file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keep = spectrum.wavenumber <= max_wavenumber
    figure, axes = plt.subplots(figsize=(7, 3.5))
    axes.plot(spectrum.wavenumber[keep], spectrum.intensity[keep], color="C0", label="MD (dipole ACF)")
    if harmonic is not None and harmonic.intensity.size:
        heights = harmonic.intensity / harmonic.intensity.max() * np.abs(spectrum.intensity[keep]).max()
        axes.vlines(harmonic.wavenumber, 0.0, heights, color="C3", linewidth=1.2, label="harmonic")
    axes.set_xlabel("wavenumber (cm$^{-1}$)")
    axes.set_ylabel("intensity (arb. units)")
    axes.set_xlim(0, max_wavenumber)
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    suffix = os.path.splitext(os.fspath(path))[1] or ".png"
    with atomic_path(path, suffix=suffix) as temporary:
        figure.savefig(temporary)
    plt.close(figure)
