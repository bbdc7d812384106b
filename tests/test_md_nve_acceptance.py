"""NVE energy conservation with a briefly trained model: 2 ps at 0.5 fs, ethanol and a periodic water box.

The module builds its own GFN2-xTB training set with tblite (Langevin MD of ethanol, a water
monomer and water clusters of 8 and 27 molecules), trains a small model with ``molmtl train``
for 8 minutes, and runs NVE in float64. A model trained only on small clusters is not stable
in bulk water, hence the 27-molecule clusters. Everything is marked slow: the data, the
training and the 192-atom water box take tens of minutes on 2 CPU cores.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from ase import Atoms, units
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta
from ase.optimize import FIRE
from tblite.ase import TBLite

from molmtl.calculators import MolMTLCalculator
from molmtl.cli.main import main
from molmtl.data.writer import H5Writer
from molmtl.md import MDSettings, energy_conservation_from_log, run_md
from structures import water_box

pytestmark = pytest.mark.slow

#: Acceptance threshold on the fitted total-energy drift, meV/atom/ps.
MAX_DRIFT = 1.0


def tblite_frames(atoms: Atoms, name: str, temperature: float, steps: int, every: int, seed: int) -> list[Atoms]:
    """Sample Langevin MD with GFN2-xTB and return every ``every``-th frame with energy, forces and dipole."""
    rng = np.random.default_rng(seed)
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    FIRE(atoms, logfile=None).run(fmax=0.2, steps=60)
    thermalize_momenta(atoms, temperature, rng=rng)
    dynamics = Langevin(atoms, 0.5 * units.fs, temperature_K=temperature, friction=0.05 / units.fs, fixcm=False, rng=rng)
    frames = []
    for _ in range(steps // every):
        dynamics.run(every)
        frame = atoms.copy()
        frame.info["molecule"] = name
        frame.calc = SinglePointCalculator(
            frame, energy=atoms.get_potential_energy(), forces=atoms.get_forces(), dipole=atoms.get_dipole_moment()
        )
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    frames = []
    frames += tblite_frames(molecule("CH3CH2OH"), "ethanol", 500.0, 3000, 10, seed=0)
    frames += tblite_frames(molecule("CH3CH2OH"), "ethanol", 300.0, 1500, 10, seed=1)
    frames += tblite_frames(molecule("H2O"), "water", 600.0, 1000, 10, seed=2)
    frames += tblite_frames(water_box(2, seed=3, spacing=2.9, jitter=0.1, periodic=False), "water_8", 300.0, 2000, 10, seed=3)
    frames += tblite_frames(water_box(3, seed=4, spacing=3.0, jitter=0.1, periodic=False), "water_27", 300.0, 640, 8, seed=4)
    frames += tblite_frames(water_box(3, seed=5, spacing=3.0, jitter=0.1, periodic=False), "water_27", 350.0, 640, 8, seed=5)
    data = folder / "train.h5"
    provenance = {"source": "tblite Langevin MD", "level_of_theory": "GFN2-xTB", "command": __name__}
    with H5Writer(data, provenance=provenance) as writer:
        writer.append_atoms(frames)

    config = {
        "data": {"train": str(data), "valid_fraction": 0.08},
        "model": {"cutoff": 4.5, "num_channels": 16, "l_max": 1, "num_layers": 2, "correlation_order": 2,
                  "radial_mlp": [32, 32]},
        "tasks": {"energy": 1.0, "forces": 10.0, "dipole": 1.0},
        "training": {"max_epochs": 1000, "max_minutes": 8.0, "batch_size": 8, "lr": 0.005, "progress": False,
                     "tensorboard": False, "plots": False},
        "dtype": "float32",
        "out": str(folder / "run"),
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", str(folder / "config.yaml")]) == 0
    return folder / "run" / "model.pt"


def run_nve(model_path, atoms: Atoms, log_path):
    calculator = MolMTLCalculator(model_path, dtype=torch.float64)
    atoms.calc = calculator
    FIRE(atoms, logfile=None).run(fmax=0.1, steps=50)
    settings = MDSettings(ensemble="nve", steps=4000, timestep=0.5, temperature=300.0, stride=10, seed=0)
    result = run_md(atoms, calculator, settings, log=log_path, progress=False)
    assert result.completed, result.instability
    return energy_conservation_from_log(log_path, len(atoms))


def test_nve_ethanol_2ps(trained_model, tmp_path):
    conservation = run_nve(trained_model, molecule("CH3CH2OH"), tmp_path / "ethanol.csv")
    print(conservation.summary())
    assert abs(conservation.drift) < MAX_DRIFT
    assert conservation.total_std < 0.1 * conservation.kinetic_std


def test_nve_water_box_2ps(trained_model, tmp_path):
    box = water_box(4, seed=0, spacing=3.1, jitter=0.1, periodic=True)
    assert len(box) == 192
    conservation = run_nve(trained_model, box, tmp_path / "water.csv")
    print(conservation.summary())
    assert abs(conservation.drift) < MAX_DRIFT
    assert conservation.total_std < 0.1 * conservation.kinetic_std
