"""Canonical names, shapes and units of every quantity molmtl stores or predicts.

These names are shared by the HDF5 format, the torch-geometric ``Data`` objects the
datasets yield, the model's output dictionary and the ASE calculator. Units are ASE's
throughout; files in other units are converted when they are read or written.

Graph conventions (torch-geometric ``Data`` / ``Batch``):

* ``edge_index[0]`` is the centre atom ``i`` and ``edge_index[1]`` its neighbour ``j``.
  The list is *full*: every pair appears as ``(i, j)`` and ``(j, i)``.
* The edge vector points from ``i`` to ``j``:
  ``r_ij = pos[j] - pos[i] + shifts @ cell``, where ``shifts`` contains the integer lattice
  translations (stored as floats) and ``cell`` is the structure's cell (rows are lattice
  vectors, Å). Keeping integer shifts, not Cartesian ones, lets a strain applied to the cell
  reach the edge vectors, which is how the stress is computed.
* Messages flow from ``j`` into ``i``.
* Per-structure tensors carry a leading dimension of one in a single ``Data`` so that
  batching stacks them to ``[num_graphs, ...]``.

Missing labels: a structure without a label stores zeros in the label tensor and ``False``
in the matching ``<name>_mask``; losses and metrics use only entries whose mask is true.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Inputs
POSITIONS = "pos"  # [N, 3] Å
ATOMIC_NUMBERS = "numbers"  # [N] int64
CELL = "cell"  # [1, 3, 3] Å, rows are lattice vectors; zeros for a non-periodic structure
PBC = "pbc"  # [1, 3] bool
TOTAL_CHARGE = "total_charge"  # [1] e
EDGE_INDEX = "edge_index"  # [2, E] int64
SHIFTS = "shifts"  # [E, 3] integer lattice translations stored as float
WEIGHT = "weight"  # [1] per-structure loss weight (default 1)

# Labels and model outputs
ENERGY = "energy"  # [1] eV (total energy of the structure)
FORCES = "forces"  # [N, 3] eV/Å, F = -dE/dR
STRESS = "stress"  # [1, 3, 3] eV/Å^3, ASE sign convention: sigma = (1/V) dE/d(strain)
VIRIAL = "virial"  # [1, 3, 3] eV, virial = -V * stress (output only)
DIPOLE = "dipole"  # [1, 3] e·Å, about the centre of mass (see below)
CHARGES = "charges"  # [N] e, partial charges that sum to TOTAL_CHARGE
NODE_ENERGY = "node_energy"  # [N] eV (output only): per-atom energies incl. E0

#: Dipole reference point. Model and labels use the centre of mass r_com:
#: mu = sum_i q_i (r_i - r_com) + sum_i p_i. For a neutral structure the value is the
#: same for every origin. For a charged one it depends on the origin; a label computed about
#: the coordinate origin is converted on import with mu_com = mu_origin - Q * r_com.
DIPOLE_REFERENCE = "centre_of_mass"


def mask_key(name: str) -> str:
    """Return the name of the presence mask that goes with label ``name``."""
    return f"{name}_mask"


@dataclass(frozen=True)
class LabelSpec:
    """Storage level (per atom or per structure), trailing shape and unit of one label."""

    name: str
    per: Literal["atom", "structure"]
    shape: tuple[int, ...]  # trailing shape after the atom or structure dimension
    unit: str


LABELS: dict[str, LabelSpec] = {
    ENERGY: LabelSpec(ENERGY, "structure", (), "eV"),
    FORCES: LabelSpec(FORCES, "atom", (3,), "eV/Angstrom"),
    STRESS: LabelSpec(STRESS, "structure", (3, 3), "eV/Angstrom^3"),
    DIPOLE: LabelSpec(DIPOLE, "structure", (3,), "e*Angstrom"),
    CHARGES: LabelSpec(CHARGES, "atom", (), "e"),
}

UNITS: dict[str, str] = {
    POSITIONS: "Angstrom",
    CELL: "Angstrom",
    TOTAL_CHARGE: "e",
    WEIGHT: "1",
    **{name: spec.unit for name, spec in LABELS.items()},
}

# Added for the HDF5 format and datasets.
SPIN_MULTIPLICITY = "spin_multiplicity"  # [1] int64, 2S + 1; 0 when the source does not give it
STRUCTURE_INDEX = "idx"  # [1] int64, index of the structure in its file

#: Presence masks are per structure for every label, per-atom labels included: ``[1]`` bool in
#: a single ``Data`` and ``[num_graphs]`` in a ``Batch``. Expand a per-atom label's mask to
#: atoms with ``mask[batch.batch]``.
MASK_SHAPE = "structure"
