"""``molmtl ir TRAJ``: infrared spectrum from the dipole autocorrelation of an MD trajectory."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the IR options to ``parser``."""
    parser.add_argument("trajectory", help="extxyz trajectory with a dipole per frame (as written by molmtl md)")
    parser.add_argument("--timestep", type=float, default=None,
                        help="interval between frames in fs (default: from the frames' time_fs)")
    parser.add_argument("--window", choices=("hann", "blackman", "none"), default="hann",
                        help="lag window of the autocorrelation (default: hann)")
    parser.add_argument("--max-lag", type=float, default=None,
                        help="maximum correlation time (lag) in fs (default: half the trajectory)")
    parser.add_argument("--zero-padding", type=int, default=4,
                        help="pad the correlation to this many times its length before the transform (default: 4)")
    parser.add_argument("--quantum-correction", choices=("none", "harmonic", "schofield"), default="none",
                        help="factor applied to the classical line shape (default: none)")
    parser.add_argument("--temperature", type=float, default=None,
                        help="temperature in K for the quantum correction (default: mean temperature of the "
                        "trajectory's momenta)")
    parser.add_argument("--verlet-correction", action="store_true",
                        help="correct the wavenumbers for the velocity-Verlet frequency shift, using the MD time "
                        "step from the frames' step and time_fs (about -18 cm^-1 at 3650 cm^-1 for 0.5 fs)")
    parser.add_argument("--integrator-timestep", type=float, default=None,
                        help="MD time step in fs for --verlet-correction when the frames carry no step numbers")
    parser.add_argument("--skip", type=int, default=0, help="drop this many frames at the start (equilibration)")
    parser.add_argument("-o", "--output", default="ir.csv", help="CSV of wavenumber (cm^-1) and intensity (default: ir.csv)")
    parser.add_argument("--plot", default="ir.png", help="plot file; an empty string skips the plot (default: ir.png)")
    parser.add_argument("--max-wavenumber", type=float, default=4500.0, help="upper end of CSV and plot in cm^-1")
    parser.add_argument("--peaks", type=int, default=8, help="number of main peaks to print (default: 8)")


def run(args: argparse.Namespace) -> int:
    """Compute, write and plot the spectrum; print its main peaks."""
    import numpy as np

    from molmtl.spectra.io import plot_spectrum, read_dipole_series, write_spectrum_csv
    from molmtl.spectra.ir import ir_spectrum

    if args.skip < 0:
        raise ValueError(f"--skip must be zero or positive, got {args.skip}")
    dipoles, timestep = read_dipole_series(args.trajectory, timestep=args.timestep)
    dipoles = dipoles[args.skip :]
    temperature = args.temperature
    if args.quantum_correction != "none" and temperature is None:
        temperature = _mean_temperature(args.trajectory, args.skip)
    integrator_timestep = None
    if args.verlet_correction:
        integrator_timestep = args.integrator_timestep or _integrator_timestep(args.trajectory)
    spectrum = ir_spectrum(
        dipoles,
        timestep,
        window=args.window,
        max_lag=args.max_lag,
        zero_padding=args.zero_padding,
        quantum_correction_kind=args.quantum_correction,
        temperature=temperature,
        integrator_timestep=integrator_timestep,
    )
    write_spectrum_csv(spectrum, args.output, max_wavenumber=args.max_wavenumber)
    if args.plot:
        plot_spectrum(spectrum, args.plot, max_wavenumber=args.max_wavenumber)
    peaks = spectrum.peaks(count=args.peaks)
    nyquist = 1.0 / (2.0 * timestep * 2.99792458e-5)
    print(f"{len(dipoles)} frames, {timestep:g} fs apart (highest resolved wavenumber {nyquist:.0f} cm^-1)")
    print("main peaks (cm^-1): " + (", ".join(f"{value:.0f}" for value in peaks) if peaks.size else "none"))
    print(f"spectrum written to {args.output}" + (f", plot to {args.plot}" if args.plot else ""))
    if nyquist < 4000.0:
        print("warning: frames are too far apart to resolve X-H stretches; write frames more often (smaller --stride)")
    return 0 if np.isfinite(spectrum.intensity).all() else 1


def _mean_temperature(path: str, skip: int) -> float:
    """Return the mean kinetic temperature (K) of the trajectory's frames that carry momenta."""
    from ase.io import read

    frames = read(path, index=f"{skip}:")
    temperatures = [frame.get_temperature() for frame in frames if frame.has("momenta")]
    if not temperatures:
        raise ValueError(f"{path} has no momenta to estimate the temperature from; pass --temperature")
    return float(sum(temperatures) / len(temperatures))


def _integrator_timestep(path: str) -> float:
    """Return the MD time step (fs) from the ``step`` and ``time_fs`` info of the first two frames."""
    from ase.io import read

    first, second = read(path, index="0:2")
    if "step" not in first.info or "time_fs" not in first.info:
        raise ValueError(f"{path} has no step and time_fs frame info; pass --integrator-timestep")
    steps = int(second.info["step"]) - int(first.info["step"])
    if steps <= 0:
        raise ValueError(f"the first two frames of {path} have step numbers {first.info['step']} and {second.info['step']}; pass --integrator-timestep")
    return (float(second.info["time_fs"]) - float(first.info["time_fs"])) / steps
