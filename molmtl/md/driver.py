"""MD driver: NVE (velocity Verlet), NVT (Langevin) or NPT (Langevin BAOAB barostat) with the stability guard.

Time is given in fs, temperature in K, pressure in bar and friction in 1/fs; they are
converted to ASE units here. Any ASE calculator works; ``molmtl md`` passes a
:class:`~molmtl.calculators.MolMTLCalculator`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from ase import units
from ase.calculators.calculator import PropertyNotImplementedError

from molmtl.md.guard import MDInstabilityError, MDState, StabilityGuard
from molmtl.md.log_csv import CSVLogger
from molmtl.md.trajectory import ExtxyzTrajectoryWriter

if TYPE_CHECKING:
    from ase import Atoms
    from ase.calculators.calculator import Calculator
    from ase.md.md import MolecularDynamics

ENSEMBLES = ("nve", "nvt", "npt")


@dataclass
class MDSettings:
    """Settings of one MD run.

    ``friction`` is the Langevin friction coefficient in 1/fs (NVT and NPT). ``pressure``
    (bar) and ``barostat_time`` (fs, the cell fluctuation time scale) are used by NPT only.
    Velocities are drawn from the Maxwell-Boltzmann distribution at ``temperature`` with
    zero total momentum and angular momentum, unless the atoms already carry momenta and
    ``keep_velocities`` is set. ``stride`` is the interval in steps between written frames
    and log rows.
    """

    ensemble: str = "nve"
    steps: int = 1000
    timestep: float = 0.5
    temperature: float = 300.0
    friction: float = 0.01
    pressure: float = 1.01325
    barostat_time: float = 1000.0
    seed: int = 0
    stride: int = 10
    keep_velocities: bool = False
    max_temperature_ratio: float = 10.0

    def validate(self, atoms: Atoms) -> None:
        """Raise ``ValueError`` for settings that cannot run on ``atoms``."""
        if self.ensemble not in ENSEMBLES:
            raise ValueError(f"unknown ensemble {self.ensemble!r}; choose one of {', '.join(ENSEMBLES)}")
        if self.ensemble == "npt" and not atoms.pbc.all():
            raise ValueError(
                f"NPT needs a structure periodic in all three directions, got pbc={atoms.pbc.tolist()}; "
                "use nve or nvt for a molecule"
            )
        checks = {
            "steps": self.steps >= 0,
            "timestep": self.timestep > 0,
            "temperature": self.temperature >= 0,
            "friction": self.friction > 0,
            "barostat_time": self.barostat_time > 0,
            "stride": self.stride >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"invalid MD setting {name}={getattr(self, name)!r}")
        if self.ensemble != "nve" and self.temperature <= 0:
            raise ValueError(f"{self.ensemble.upper()} needs a positive temperature, got {self.temperature} K")


@dataclass
class MDResult:
    """Outcome of :func:`run_md`: steps done, frames written and the guard's message if it stopped the run."""

    steps_completed: int
    frames_written: int
    instability: str | None = None

    @property
    def completed(self) -> bool:
        """True when the run finished all its steps."""
        return self.instability is None


def initialize_velocities(atoms: Atoms, temperature: float, seed: int) -> None:
    """Draw Maxwell-Boltzmann momenta at ``temperature`` (K) without net translation or rotation."""
    from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta

    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature, rng=rng)
    Stationary(atoms)
    if not atoms.pbc.any():
        ZeroRotation(atoms)


def build_dynamics(atoms: Atoms, settings: MDSettings) -> MolecularDynamics:
    """Create the ASE integrator for ``settings.ensemble``."""
    timestep = settings.timestep * units.fs
    rng = np.random.default_rng(settings.seed + 1)
    if settings.ensemble == "nve":
        from ase.md.verlet import VelocityVerlet

        return VelocityVerlet(atoms, timestep=timestep)
    if settings.ensemble == "nvt":
        from ase.md.langevin import Langevin

        return Langevin(
            atoms,
            timestep=timestep,
            temperature_K=settings.temperature,
            friction=settings.friction / units.fs,
            # ASE 3.28+ deprecates fixcm=True because it biases the NVT distribution.
            fixcm=False,
            rng=rng,
        )
    from ase.md.langevinbaoab import LangevinBAOAB

    # Stress is the negative of pressure in ASE's convention, so a positive pressure is a
    # negative external stress.
    return LangevinBAOAB(
        atoms,
        timestep=timestep,
        temperature_K=settings.temperature,
        externalstress=-settings.pressure * units.bar,
        hydrostatic=True,
        T_tau=units.fs / settings.friction,
        P_tau=settings.barostat_time * units.fs,
        rng=rng,
    )


def read_state(atoms: Atoms, step: int, timestep: float) -> MDState:
    """Collect the quantities of the current step from ``atoms`` and its calculator (results are cached)."""
    try:
        dipole = np.asarray(atoms.get_dipole_moment(), dtype=np.float64)
    except PropertyNotImplementedError:
        dipole = None
    return MDState(
        step=step,
        time_fs=step * timestep,
        potential_energy=float(atoms.get_potential_energy()),
        kinetic_energy=float(atoms.get_kinetic_energy()),
        temperature=float(atoms.get_temperature()),
        positions=atoms.positions.copy(),
        velocities=atoms.get_velocities(),
        forces=atoms.get_forces(),
        dipole=dipole,
        volume=float(atoms.get_volume()) if atoms.pbc.all() else None,
    )


def run_md(
    atoms: Atoms,
    calculator: Calculator,
    settings: MDSettings,
    trajectory: str | os.PathLike[str] | None = None,
    log: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> MDResult:
    """Run MD on ``atoms`` (changed in place) and write every ``stride``-th step to the trajectory and log.

    Every step, including step 0, passes through :class:`StabilityGuard` before anything
    is written. When the guard fires, the run stops, the files keep only the frames of
    steps before the broken one, and the message is returned in
    :attr:`MDResult.instability`.
    """
    from tqdm.auto import tqdm

    settings.validate(atoms)
    atoms.calc = calculator
    if not (settings.keep_velocities and atoms.has("momenta")):
        initialize_velocities(atoms, settings.temperature, settings.seed)
    dynamics = build_dynamics(atoms, settings)
    guard = StabilityGuard(settings.max_temperature_ratio)

    with contextlib.ExitStack() as stack:
        writer = None
        if trajectory is not None:
            writer = ExtxyzTrajectoryWriter(trajectory)
            stack.callback(writer.close)
        logger = None
        if log is not None:
            logger = CSVLogger(log, with_volume=bool(atoms.pbc.all()))
            stack.callback(logger.close)
        bar = stack.enter_context(tqdm(total=settings.steps, disable=not progress, unit="step", desc="MD"))

        step = 0
        try:
            for _ in dynamics.irun(settings.steps):
                step = dynamics.nsteps
                state = read_state(atoms, step, settings.timestep)
                guard.check(state)
                if step % settings.stride == 0:
                    if writer is not None:
                        writer.write(atoms, state)
                    if logger is not None:
                        logger.write(state)
                    bar.set_postfix(T=f"{state.temperature:.0f} K", Etot=f"{state.total_energy:.4f} eV", refresh=False)
                if step > bar.n:
                    bar.update(step - bar.n)
        except MDInstabilityError as error:
            frames = writer.frames_written if writer is not None else 0
            return MDResult(steps_completed=max(error.step - 1, 0), frames_written=frames, instability=str(error))
        frames = writer.frames_written if writer is not None else 0
        return MDResult(steps_completed=step, frames_written=frames)
