"""Test structures shared by several test modules (pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import molecule


def water_box(repeat: int = 2, seed: int = 0, spacing: float = 3.1, jitter: float = 0.2, periodic: bool = True) -> Atoms:
    """Return ``repeat**3`` randomly oriented water molecules on a jittered cubic lattice.

    A spacing of 3.1 Å gives about 1 g/cm^3. ``jitter`` is the standard deviation (Å) of the
    random displacement of each molecule. Without ``periodic`` the cluster has no cell.
    """
    rng = np.random.default_rng(seed)
    atoms = Atoms(cell=np.eye(3) * spacing * repeat if periodic else None, pbc=periodic)
    for index in np.ndindex(repeat, repeat, repeat):
        water = molecule("H2O")
        water.rotate(rng.uniform(0, 360), rng.normal(size=3))
        water.translate(np.array(index) * spacing + jitter * rng.normal(size=3))
        atoms += water
    return atoms
