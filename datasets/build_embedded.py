"""Build the embedded GFN2-xTB dataset (``datasets/embedded.h5``) from Langevin MD.

Each system starts from SMILES through RDKit (ETKDG embedding and an MMFF94 or UFF
pre-optimisation) and is relaxed with GFN2-xTB. Water clusters (H2O)n are assembled from
RDKit water monomers placed on the corners of a cube with O-O edges of 2.9 Angstrom, then
relaxed with GFN2-xTB. Every system then runs one Langevin trajectory per temperature. After
a short equilibration the trajectory keeps one frame every ``--stride`` steps.

Labels come from a fresh tblite calculator per frame (no wavefunction restart from the MD
step), so a later single point on the stored positions reproduces them. The stored dipole is
about the centre of mass. tblite returns it about the coordinate origin; the two agree for
the neutral systems built here, and the script converts with mu_com = mu_origin - Q r_com.

A frame is rejected when a label is not finite, two atoms are closer than 0.7 Angstrom, a
covalent bond pattern splits into extra fragments, or a water cluster falls apart. A cluster
has fallen apart when its atoms no longer form one connected group with links between atoms
closer than ``CLUSTER_CONTACT`` Angstrom. After a rejection the trajectory restarts from the last accepted frame with new
Maxwell-Boltzmann velocities.

Run ``python datasets/build_embedded.py --help`` for the options. Set OMP_NUM_THREADS=1 on a
shared machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.mixing import SumCalculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
from ase.neighborlist import natural_cutoffs, neighbor_list
from ase.optimize import BFGS
from rdkit import Chem
from rdkit.Chem import AllChem
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from tblite.ase import TBLite
from tqdm import tqdm

METHOD = "GFN2-xTB"

#: Smallest interatomic distance a stored frame may have, Angstrom.
MIN_DISTANCE = 0.7
#: Two water molecules are in contact when some pair of their atoms is closer than this, Angstrom.
#: A cluster is bound when its molecules form one connected group through such contacts.
#: A hydrogen bond has H...O near 1.9 Angstrom, and 3.5 Angstrom also keeps hot frames whose
#: hydrogen bonds are broken but whose molecules still touch.
CLUSTER_CONTACT = 3.5
#: Scale on ASE's natural (covalent) cutoffs when counting covalent fragments.
BOND_SCALE = 1.3
#: O-O distance between neighbouring cube corners when water clusters are assembled, Angstrom.
WATER_SPACING = 2.9

#: SCF accuracy of the labels, tighter than tblite's default of 1.0.
LABEL_ACCURACY = 0.01
ELECTRONIC_TEMPERATURE = 300.0


@dataclasses.dataclass(frozen=True)
class System:
    """One system of the dataset: a molecule from SMILES or a water cluster of ``copies`` waters."""

    name: str
    smiles: str
    copies: int = 1


SYSTEMS: tuple[System, ...] = (
    System("ethanol", "CCO"),
    System("uracil", "O=C1C=CNC(=O)N1"),
    System("benzene", "c1ccccc1"),
    System("toluene", "Cc1ccccc1"),
    System("naphthalene", "c1ccc2ccccc2c1"),
    System("paracetamol", "CC(=O)Nc1ccc(O)cc1"),
    System("salicylic_acid", "O=C(O)c1ccccc1O"),
    *(System(f"water_{n}", "O", copies=n) for n in range(2, 7)),
)


@dataclasses.dataclass(frozen=True)
class MDSettings:
    """Langevin settings shared by every trajectory (time in fs, temperatures in K)."""

    temperatures: tuple[float, ...]
    frames_per_molecule: int
    timestep_fs: float
    friction_per_fs: float
    equilibration_steps: int
    stride: int
    wall_radius_margin: float
    wall_spring: float


@dataclasses.dataclass
class Frame:
    """One labelled frame: atoms with a single-point calculator holding the GFN2-xTB labels."""

    atoms: Atoms
    molecule: str
    config_type: str


@dataclasses.dataclass
class SystemReport:
    """Counts and timings for one system."""

    name: str
    num_atoms: int
    frames: int = 0
    rejected: dict[str, int] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0


def make_xtb(accuracy: float = 1.0) -> TBLite:
    """Return a quiet GFN2-xTB calculator for a neutral closed-shell system."""
    return TBLite(
        method=METHOD,
        charge=0,
        multiplicity=1,
        accuracy=accuracy,
        electronic_temperature=ELECTRONIC_TEMPERATURE,
        verbosity=0,
    )


def embed_smiles(smiles: str, seed: int) -> Atoms:
    """Embed ``smiles`` with hydrogens through RDKit ETKDG, then pre-optimise with MMFF94 (UFF as fallback)."""
    molecule = Chem.AddHs(Chem.MolFromSmiles(smiles))
    parameters = AllChem.ETKDGv3()
    parameters.randomSeed = seed
    if AllChem.EmbedMolecule(molecule, parameters) != 0:
        raise RuntimeError(f"RDKit could not embed {smiles!r}; try another --seed")
    if AllChem.MMFFHasAllMoleculeParams(molecule):
        AllChem.MMFFOptimizeMolecule(molecule, maxIters=2000)
    else:
        AllChem.UFFOptimizeMolecule(molecule, maxIters=2000)
    numbers = [atom.GetAtomicNum() for atom in molecule.GetAtoms()]
    return Atoms(numbers=numbers, positions=molecule.GetConformer().GetPositions())


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Return a uniformly random 3x3 rotation matrix (QR of a Gaussian matrix, sign-fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1.0
    return q


def assemble_cluster(monomer: Atoms, copies: int, rng: np.random.Generator) -> Atoms:
    """Place ``copies`` randomly rotated monomers on cube corners ``WATER_SPACING`` apart.

    The first four corners form one square face and the next ones start the opposite face.
    Orientations are redrawn until no two atoms of different molecules are closer than 1.6 Angstrom.
    """
    if not 1 <= copies <= 8:
        raise ValueError(f"a cluster needs 1 to 8 monomers on the cube corners, got {copies}")
    corners = WATER_SPACING * np.array(
        [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], dtype=float
    )
    heavy = int(np.argmax(monomer.numbers))
    local = monomer.positions - monomer.positions[heavy]
    for _ in range(1000):
        blocks = [local @ random_rotation(rng).T + corners[k] for k in range(copies)]
        cluster = Atoms(numbers=np.tile(monomer.numbers, copies), positions=np.concatenate(blocks))
        owner = np.repeat(np.arange(copies), len(monomer))
        distances = cluster.get_all_distances()
        if distances[owner[:, None] != owner[None, :]].min() >= 1.6:
            return cluster
    raise RuntimeError(f"could not place {copies} monomers without clashes after 1000 orientations")


def relax_with_xtb(atoms: Atoms, fmax: float = 0.05, steps: int = 300) -> Atoms:
    """Relax ``atoms`` with GFN2-xTB and BFGS (``fmax`` in eV/Angstrom) and return a bare copy."""
    atoms = atoms.copy()
    atoms.calc = make_xtb()
    BFGS(atoms, logfile=None).run(fmax=fmax, steps=steps)
    relaxed = Atoms(numbers=atoms.numbers, positions=atoms.positions)
    relaxed.positions -= relaxed.get_center_of_mass()
    return relaxed


def build_start(system: System, seed: int) -> Atoms:
    """Return the GFN2-xTB-relaxed starting structure of ``system``, centred on its centre of mass."""
    monomer = embed_smiles(system.smiles, seed)
    if system.copies == 1:
        return relax_with_xtb(monomer)
    rng = np.random.default_rng(seed)
    return relax_with_xtb(assemble_cluster(monomer, system.copies, rng))


class SphericalWall(Calculator):
    """Flat-bottom harmonic wall about the centre of mass, used only to steer the MD of clusters.

    E = sum_i k/2 * max(0, |r_i - r_com| - R)^2 with ``radius`` R in Angstrom and ``spring`` k
    in eV/Angstrom^2. The wall never enters the stored labels.
    """

    implemented_properties = ["energy", "forces"]

    def __init__(self, radius: float, spring: float) -> None:
        super().__init__()
        self.radius = radius
        self.spring = spring

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        masses = self.atoms.get_masses()
        offsets = self.atoms.positions - self.atoms.get_center_of_mass()
        distances = np.linalg.norm(offsets, axis=1)
        excess = np.clip(distances - self.radius, 0.0, None)
        directions = offsets / np.maximum(distances, 1e-12)[:, None]
        gradient = self.spring * excess[:, None] * directions
        # The centre of mass depends on every position, which adds -(m_l / M) sum_i g_i to atom l.
        gradient -= (masses / masses.sum())[:, None] * gradient.sum(axis=0)
        self.results["energy"] = 0.5 * self.spring * float(np.sum(excess**2))
        self.results["forces"] = -gradient


def fragment_labels(atoms: Atoms, cutoffs: list[float] | float) -> tuple[int, np.ndarray]:
    """Return the number of connected components and each atom's component for the given cutoffs."""
    first, second = neighbor_list("ij", atoms, cutoffs, self_interaction=False)
    graph = csr_matrix((np.ones(len(first)), (first, second)), shape=(len(atoms), len(atoms)))
    return connected_components(graph, directed=False)


def rejection_reason(frame: Atoms, expected_fragments: int) -> str | None:
    """Return why ``frame`` may not be stored, or ``None`` when it is valid."""
    results = frame.calc.results
    for name in ("energy", "forces", "dipole", "charges"):
        if not np.all(np.isfinite(results[name])):
            return "non_finite_label"
    distances = frame.get_all_distances()
    np.fill_diagonal(distances, np.inf)
    if distances.min() < MIN_DISTANCE:
        return "close_contact"
    cutoffs = [BOND_SCALE * c for c in natural_cutoffs(frame)]
    num_fragments, _ = fragment_labels(frame, cutoffs)
    if num_fragments != expected_fragments:
        return "covalent_fragments_changed"
    # ase.neighborlist reads a single float as a pair distance cutoff and a list as per-atom radii.
    num_clusters, _ = fragment_labels(frame, CLUSTER_CONTACT)
    if num_clusters != 1:
        return "cluster_dissociated"
    return None


def label_frame(positions: np.ndarray, numbers: np.ndarray) -> Atoms:
    """Return atoms at ``positions`` with GFN2-xTB labels from a fresh calculator.

    The stored dipole is about the centre of mass (e*Angstrom): tblite's dipole about the
    coordinate origin minus Q r_com, where Q is the total charge (zero here).
    """
    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.calc = make_xtb(accuracy=LABEL_ACCURACY)
    atoms.get_potential_energy()
    results = atoms.calc.results
    total_charge = 0.0
    dipole = np.asarray(results["dipole"]) - total_charge * atoms.get_center_of_mass()
    labelled = Atoms(numbers=numbers, positions=positions)
    labelled.info["charge"] = total_charge
    labelled.info["spin_multiplicity"] = 1
    labelled.calc = SinglePointCalculator(
        labelled,
        energy=float(results["energy"]),
        forces=np.array(results["forces"]),
        dipole=dipole,
        charges=np.array(results["charges"]),
    )
    return labelled


def sample_temperature(
    start: Atoms,
    system: System,
    temperature: float,
    num_frames: int,
    settings: MDSettings,
    rng: np.random.Generator,
    report: SystemReport,
    progress: tqdm,
) -> list[Frame]:
    """Run one Langevin trajectory at ``temperature`` K and return ``num_frames`` accepted, labelled frames."""
    atoms = start.copy()
    xtb = make_xtb()
    if system.copies > 1:
        radius = float(np.linalg.norm(start.positions - start.get_center_of_mass(), axis=1).max())
        wall = SphericalWall(radius + settings.wall_radius_margin, settings.wall_spring)
        atoms.calc = SumCalculator([xtb, wall])
    else:
        atoms.calc = xtb

    def redraw_velocities() -> None:
        thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
        Stationary(atoms)
        ZeroRotation(atoms)

    redraw_velocities()
    dynamics = Langevin(
        atoms,
        timestep=settings.timestep_fs * units.fs,
        temperature_K=temperature,
        friction=settings.friction_per_fs / units.fs,
        fixcm=False,
        rng=rng,
    )
    dynamics.run(settings.equilibration_steps)

    config_type = f"md_{temperature:.0f}K"
    frames: list[Frame] = []
    last_good = atoms.positions.copy()
    max_rejections = 10 * num_frames
    rejections = 0
    while len(frames) < num_frames:
        dynamics.run(settings.stride)
        positions = atoms.positions - atoms.get_center_of_mass()
        labelled = label_frame(positions, atoms.numbers)
        reason = rejection_reason(labelled, expected_fragments=system.copies)
        if reason is None:
            frames.append(Frame(labelled, system.name, config_type))
            last_good = atoms.positions.copy()
            progress.update(1)
            continue
        key = f"{config_type}/{reason}"
        report.rejected[key] = report.rejected.get(key, 0) + 1
        rejections += 1
        if rejections > max_rejections:
            raise RuntimeError(
                f"{system.name} at {temperature:.0f} K: more than {max_rejections} frames rejected "
                f"({report.rejected}); lower the temperature or tighten the cluster wall"
            )
        atoms.positions = last_good
        redraw_velocities()
    return frames


def split_frames(total: int, parts: int) -> list[int]:
    """Split ``total`` frames over ``parts`` temperatures as evenly as possible (first ones get the extra)."""
    base, extra = divmod(total, parts)
    return [base + (1 if k < extra else 0) for k in range(parts)]


def sample_system(
    index: int, system: System, settings: MDSettings, seed: int, progress: tqdm
) -> tuple[list[Frame], SystemReport]:
    """Build the start structure of ``system`` and sample it at every temperature."""
    began = time.perf_counter()
    start = build_start(system, seed=seed + index)
    report = SystemReport(system.name, len(start))
    frames: list[Frame] = []
    counts = split_frames(settings.frames_per_molecule, len(settings.temperatures))
    for k, (temperature, count) in enumerate(zip(settings.temperatures, counts)):
        progress.set_postfix_str(f"{system.name} {temperature:.0f} K")
        rng = np.random.default_rng([seed, index, k])
        frames += sample_temperature(start, system, temperature, count, settings, rng, report, progress)
    report.frames = len(frames)
    report.seconds = time.perf_counter() - began
    return frames, report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Build the embedded GFN2-xTB dataset from Langevin MD of small molecules and water clusters.",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("embedded.h5"), help="output HDF5 file")
    parser.add_argument("--overwrite", action="store_true", help="replace --out when it exists")

    parser.add_argument("--seed", type=int, default=0, help="seed of the RDKit embedding, cluster assembly and MD noise")
    parser.add_argument(
        "--frames-per-molecule", type=int, default=168, help="frames kept per system, split evenly over the temperatures"
    )
    parser.add_argument(
        "--temperatures", type=float, nargs="+", default=[300.0, 400.0, 500.0, 600.0, 700.0, 800.0], help="MD temperatures, K"
    )

    parser.add_argument("--timestep", type=float, default=1.0, help="MD time step, fs")
    parser.add_argument("--friction", type=float, default=0.02, help="Langevin friction, 1/fs")
    parser.add_argument("--equilibration-steps", type=int, default=150, help="MD steps discarded before the first frame")
    parser.add_argument("--stride", type=int, default=30, help="MD steps between stored frames")

    parser.add_argument(
        "--wall-margin",
        type=float,
        default=1.0,
        help="water clusters only: the MD wall starts this far (Angstrom) beyond the relaxed cluster's outermost atom",
    )
    parser.add_argument("--wall-spring", type=float, default=1.0, help="spring constant of the MD wall, eV/Angstrom^2")

    parser.add_argument(
        "--molecules", nargs="+", choices=[system.name for system in SYSTEMS], help="build only these systems (default: all)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    args = parser.parse_args(argv)
    if args.frames_per_molecule < len(args.temperatures):
        parser.error(f"--frames-per-molecule {args.frames_per_molecule} is below the number of temperatures")
    if min(args.temperatures) <= 0:
        parser.error(f"--temperatures must be positive, got {args.temperatures}")
    if args.stride < 1 or args.equilibration_steps < 0 or args.timestep <= 0:
        parser.error("--stride must be >= 1, --equilibration-steps >= 0 and --timestep > 0")
    return args


def package_versions() -> dict[str, str]:
    """Return the versions of the packages that produce the labels and structures."""
    versions = {}
    for name in ("tblite", "ase", "rdkit", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def main(argv: list[str] | None = None) -> int:
    """Sample every system, write the HDF5 file with molmtl's writer and print the counts."""
    from molmtl.data.structure import Structure
    from molmtl.data.writer import H5Writer

    args = parse_args(argv)
    if args.out.exists() and not args.overwrite:
        print(f"{args.out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 1
    settings = MDSettings(
        temperatures=tuple(args.temperatures),
        frames_per_molecule=args.frames_per_molecule,
        timestep_fs=args.timestep,
        friction_per_fs=args.friction,
        equilibration_steps=args.equilibration_steps,
        stride=args.stride,
        wall_radius_margin=args.wall_margin,
        wall_spring=args.wall_spring,
    )
    selected = [(k, system) for k, system in enumerate(SYSTEMS) if args.molecules is None or system.name in args.molecules]
    command = "python datasets/build_embedded.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    provenance = {
        "source": "molmtl datasets/build_embedded.py: Langevin MD of small molecules and water clusters",
        "level_of_theory": f"{METHOD} (tblite, accuracy {LABEL_ACCURACY}, electronic temperature {ELECTRONIC_TEMPERATURE} K)",
        "label_settings": {
            "calculator": "tblite.ase.TBLite, one fresh calculator per frame",
            "method": METHOD,
            "charge": 0,
            "multiplicity": 1,
            "accuracy": LABEL_ACCURACY,
            "electronic_temperature_K": ELECTRONIC_TEMPERATURE,
        },
        "dipole_reference": "centre_of_mass",
        "command": command,
        "seed": args.seed,
        "md": dataclasses.asdict(settings) | {"thermostat": "ase.md.langevin.Langevin"},
        "labels": "energy, forces, dipole (about the centre of mass), Mulliken charges",
        "systems": {system.name: {"smiles": system.smiles, "copies": system.copies} for _, system in selected},
        "versions": package_versions(),
        "licence": "generated by the molmtl project, same licence as molmtl (MIT)",
    }

    began, began_cpu = time.perf_counter(), time.process_time()
    reports: list[SystemReport] = []
    with H5Writer(args.out, provenance=provenance, overwrite=args.overwrite) as writer:
        with tqdm(total=len(selected) * args.frames_per_molecule, unit="frame", disable=args.no_progress) as progress:
            for index, system in selected:
                frames, report = sample_system(index, system, settings, args.seed, progress)
                writer.append(
                    Structure.from_atoms(frame.atoms, config_type=frame.config_type, molecule=frame.molecule)
                    for frame in frames
                )
                reports.append(report)
            writer.provenance["rejected_frames"] = {report.name: report.rejected for report in reports}
    elapsed, elapsed_cpu = time.perf_counter() - began, time.process_time() - began_cpu

    print(
        f"wrote {sum(r.frames for r in reports)} structures to {args.out} "
        f"in {elapsed:.0f} s wall-clock time ({elapsed_cpu:.0f} s CPU time of this process)"
    )
    for report in reports:
        print(
            f"  {report.name:15s} {report.num_atoms:3d} atoms  {report.frames:4d} frames  "
            f"{report.seconds:6.1f} s  rejected {json.dumps(report.rejected)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
