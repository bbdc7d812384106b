"""IR spectrum from the dipole autocorrelation: synthetic signals, MD against harmonic IR, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import molecule
from ase.optimize import BFGS
from tblite.ase import TBLite

from molmtl.cli.main import main
from molmtl.md import MDSettings, run_md
from molmtl.spectra.harmonic import harmonic_ir, match_peaks
from molmtl.spectra.io import read_dipole_series
from molmtl.spectra.ir import (
    SPEED_OF_LIGHT_CM_PER_FS,
    autocorrelation,
    ir_spectrum,
    quantum_correction,
    verlet_corrected_wavenumber,
)

TOLERANCE_CM = 30.0


def synthetic_dipoles(wavenumbers: list[float], timestep: float, frames: int) -> np.ndarray:
    """Dipoles oscillating along x, y and z at the given wavenumbers (cm^-1)."""
    time = np.arange(frames) * timestep
    dipoles = np.zeros((frames, 3))
    for axis, wavenumber in enumerate(wavenumbers):
        dipoles[:, axis % 3] += 0.1 * np.cos(2 * np.pi * wavenumber * SPEED_OF_LIGHT_CM_PER_FS * time + axis)
    return dipoles


def test_synthetic_peaks_recovered():
    wavenumbers = [1000.0, 1650.0, 3400.0]
    spectrum = ir_spectrum(synthetic_dipoles(wavenumbers, 0.5, 4000), 0.5)
    np.testing.assert_allclose(spectrum.peaks(count=3), wavenumbers, atol=5.0)
    assert spectrum.intensity.max() == pytest.approx(1.0)


def test_derivative_weights_high_frequencies():
    spectrum = ir_spectrum(synthetic_dipoles([1000.0, 3000.0], 0.5, 4000), 0.5, normalize=False)
    low = spectrum.intensity[np.argmin(np.abs(spectrum.wavenumber - 1000.0))]
    high = spectrum.intensity[np.argmin(np.abs(spectrum.wavenumber - 3000.0))]
    assert high / low == pytest.approx(9.0, rel=0.1), "the dmu/dt spectrum scales with the squared frequency"


def test_autocorrelation_matches_direct_sum():
    rng = np.random.default_rng(0)
    series = rng.normal(size=(50, 3))
    correlation = autocorrelation(series, 10)
    for lag in (0, 3, 10):
        direct = np.mean(np.sum(series[: 50 - lag] * series[lag:], axis=1))
        assert correlation[lag] == pytest.approx(direct, rel=1e-10)


def test_quantum_correction_limits():
    wavenumber = np.array([1e-6, 100.0, 3000.0])
    harmonic = quantum_correction(wavenumber, 300.0, "harmonic")
    assert harmonic[0] == pytest.approx(1.0, abs=1e-6)
    x = 3000.0 * 1.239841984e-4 / (8.617333262e-5 * 300.0)
    assert harmonic[2] == pytest.approx(x / (1 - np.exp(-x)))
    np.testing.assert_allclose(quantum_correction(wavenumber, 300.0, "none"), 1.0)
    with pytest.raises(ValueError, match="positive temperature"):
        quantum_correction(wavenumber, 0.0, "schofield")


def test_verlet_correction_inverts_shift():
    timestep = 0.5
    true = np.array([500.0, 1600.0, 3700.0])
    omega = 2 * np.pi * SPEED_OF_LIGHT_CM_PER_FS * true
    shifted = 2 / timestep * np.arcsin(omega * timestep / 2) / (2 * np.pi * SPEED_OF_LIGHT_CM_PER_FS)
    assert shifted[2] - true[2] > 15.0
    np.testing.assert_allclose(verlet_corrected_wavenumber(shifted, timestep), true, rtol=1e-12)
    assert np.isnan(verlet_corrected_wavenumber(np.array([1e6]), timestep))[0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"window": "triangle"}, "unknown window"),
        ({"max_lag": 1e6}, "max_lag"),
        ({"zero_padding": 0}, "zero_padding"),
    ],
)
def test_ir_rejects_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ir_spectrum(synthetic_dipoles([1000.0], 0.5, 100), 0.5, **kwargs)


def test_ir_rejects_non_finite_dipoles():
    dipoles = synthetic_dipoles([1000.0], 0.5, 100)
    dipoles[40, 1] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        ir_spectrum(dipoles, 0.5)


def md_against_harmonic(name: str, temperature: float, tmp_path, strongest: int):
    """Relax with GFN2-xTB, compute harmonic IR modes, run low-temperature NVE and compare peaks."""
    calculator = TBLite(method="GFN2-xTB", verbosity=0)
    atoms = molecule(name)
    atoms.calc = calculator
    BFGS(atoms, logfile=None).run(fmax=1e-4)
    modes = harmonic_ir(atoms, calculator)

    trajectory = tmp_path / f"{name}.extxyz"
    settings = MDSettings(ensemble="nve", steps=4000, timestep=0.5, temperature=temperature, stride=1, seed=1)
    assert run_md(atoms, calculator, settings, trajectory=trajectory, progress=False).completed
    dipoles, timestep = read_dipole_series(trajectory)
    # Velocity Verlet at 0.5 fs shifts a 3650 cm^-1 line up by about 18 cm^-1; undo it before comparing.
    spectrum = ir_spectrum(dipoles, timestep, integrator_timestep=settings.timestep)

    harmonic = modes.strongest(strongest)
    nearest = match_peaks(spectrum.peaks(count=10), harmonic)
    for reference, found in zip(harmonic, nearest):
        assert abs(found - reference) < TOLERANCE_CM, f"harmonic {reference:.0f} cm^-1, nearest MD peak {found:.0f}"

    main_peaks = spectrum.peaks(count=strongest)
    assert main_peaks.size >= 2
    for peak, mode in zip(main_peaks, match_peaks(modes.wavenumber, main_peaks)):
        assert abs(peak - mode) < TOLERANCE_CM, f"MD peak {peak:.0f} cm^-1, nearest harmonic mode {mode:.0f}"


def test_water_md_peaks_match_harmonic(tmp_path):
    md_against_harmonic("H2O", 50.0, tmp_path, strongest=3)


@pytest.mark.slow
def test_ethanol_md_peaks_match_harmonic(tmp_path):
    md_against_harmonic("CH3CH2OH", 30.0, tmp_path, strongest=5)


def test_cli_ir_writes_csv_and_plot(tmp_path, capsys):
    calculator = TBLite(method="GFN2-xTB", verbosity=0)
    trajectory = tmp_path / "md.extxyz"
    settings = MDSettings(ensemble="nve", steps=400, timestep=0.5, temperature=300.0, stride=2, seed=0)
    run_md(molecule("H2O"), calculator, settings, trajectory=trajectory, progress=False)

    csv_path, plot_path = tmp_path / "ir.csv", tmp_path / "ir.png"
    status = main([
        "ir", str(trajectory), "-o", str(csv_path), "--plot", str(plot_path), "--quantum-correction", "harmonic",
        "--verlet-correction",
    ])
    assert status == 0
    table = np.loadtxt(csv_path, delimiter=",", skiprows=1)
    assert table.shape[1] == 2
    assert table[:, 0].max() <= 4500.0
    assert np.isfinite(table).all()
    assert plot_path.stat().st_size > 1000
    assert "main peaks (cm^-1)" in capsys.readouterr().out


def test_cli_ir_needs_dipoles(tmp_path):
    from ase.io import write

    frames = [molecule("H2O") for _ in range(3)]
    write(tmp_path / "plain.extxyz", frames)
    with pytest.raises(ValueError, match="no dipole"):
        main(["ir", str(tmp_path / "plain.extxyz")])
