"""Batched predictions of a molmtl model: energies, forces, dipoles and charges for many structures.

``predict(model, structures)`` is the Python entry point behind ``molmtl predict``.
Structures come as ASE ``Atoms`` or from a file (extxyz, molmtl HDF5 or a SMILES list,
see :func:`read_structures`). Units are ASE's: eV, eV/Å, e·Å (dipole about the centre
of mass), e, eV/Å^3.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from molmtl.atomic_io import atomic_path, atomic_write_text

if TYPE_CHECKING:
    import torch
    from ase import Atoms

SMILES_SUFFIXES = (".smi", ".smiles")
HDF5_SUFFIXES = (".h5", ".hdf5")

#: Column order of the summary table (CSV and JSON).
SUMMARY_COLUMNS = (
    "index",
    "name",
    "formula",
    "num_atoms",
    "energy_eV",
    "energy_per_atom_eV",
    "dipole_norm_eA",
    "dipole_x_eA",
    "dipole_y_eA",
    "dipole_z_eA",
    "max_force_eV_A",
)


@dataclass
class Prediction:
    """Model outputs for one structure, with the structure itself in ``atoms``.

    Units: ``energy`` eV, ``forces`` [N, 3] eV/Å, ``node_energy`` [N] eV. ``dipole`` [3] e·Å
    and ``charges`` [N] e are None for a model without those heads. ``stress`` [3, 3] eV/Å^3
    is None unless requested.
    """

    index: int
    atoms: Atoms
    energy: float
    forces: np.ndarray
    node_energy: np.ndarray
    dipole: np.ndarray | None = None
    charges: np.ndarray | None = None
    stress: np.ndarray | None = None

    @property
    def name(self) -> str:
        """Structure name from ``atoms.info["name"]`` (SMILES inputs), else the empty string."""
        return str(self.atoms.info.get("name", ""))

    def summary(self) -> dict[str, Any]:
        """Return one row of the summary table (keys in :data:`SUMMARY_COLUMNS`)."""
        dipole = self.dipole if self.dipole is not None else np.full(3, np.nan)
        return {
            "index": self.index,
            "name": self.name,
            "formula": self.atoms.get_chemical_formula(),
            "num_atoms": len(self.atoms),
            "energy_eV": self.energy,
            "energy_per_atom_eV": self.energy / len(self.atoms),
            "dipole_norm_eA": float(np.linalg.norm(dipole)),
            "dipole_x_eA": float(dipole[0]),
            "dipole_y_eA": float(dipole[1]),
            "dipole_z_eA": float(dipole[2]),
            "max_force_eV_A": float(np.linalg.norm(self.forces, axis=1).max()),
        }

    def to_atoms(self) -> Atoms:
        """Return a copy of the structure with the predictions attached as a single-point calculator."""
        from ase.calculators.singlepoint import SinglePointCalculator
        from ase.stress import full_3x3_to_voigt_6_stress

        atoms = self.atoms.copy()
        results: dict[str, Any] = {
            "energy": self.energy,
            "free_energy": self.energy,
            "forces": self.forces,
            "energies": self.node_energy,
        }
        if self.dipole is not None:
            results["dipole"] = self.dipole
        if self.charges is not None:
            results["charges"] = self.charges
        if self.stress is not None:
            results["stress"] = full_3x3_to_voigt_6_stress(self.stress)
        atoms.calc = SinglePointCalculator(atoms, **results)
        atoms.info["energy_per_atom"] = self.energy / len(atoms)
        return atoms


def predict(
    model: torch.nn.Module | str | os.PathLike[str],
    structures: Atoms | Iterable[Atoms] | str | os.PathLike[str],
    batch_size: int = 32,
    device: str = "cpu",
    dtype: torch.dtype | None = None,
    compute_stress: bool = False,
    progress: bool = False,
) -> list[Prediction]:
    """Evaluate ``model`` on ``structures`` in batches and return one :class:`Prediction` per structure.

    Args:
        model: a :class:`~molmtl.nn.model.MolMTLModel` or the path of a saved model.
        structures: one ``Atoms``, an iterable of them, or a file path read by :func:`read_structures`.
        batch_size: structures per model evaluation.
        device: torch device.
        dtype: cast the model to this dtype; ``None`` keeps its own.
        compute_stress: also return the stress; every structure must then be periodic in
            all three directions.
        progress: show a progress bar.

    The total charge of each structure is ``atoms.info["charge"]`` (default 0).
    """
    import torch
    from torch_geometric.data import Batch
    from tqdm.auto import tqdm

    from molmtl.calculators.ase_calculator import load_for_inference
    from molmtl.calculators.evaluators import model_cutoff, model_dtype
    from molmtl.calculators.validation import check_atoms, total_charge_of
    from molmtl.data.neighbors import atoms_to_data

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    model = load_for_inference(model, device, dtype)
    cutoff = model_cutoff(model)
    float_dtype = model_dtype(model)
    atoms_list = _as_atoms_list(structures)
    known = getattr(getattr(model, "config", None), "atomic_numbers", None)
    for index, atoms in enumerate(atoms_list):
        _check_structure(index, atoms, known, compute_stress, check_atoms)

    predictions: list[Prediction] = []
    with tqdm(total=len(atoms_list), disable=not progress, unit="structure", desc="predict") as bar:
        for start in range(0, len(atoms_list), batch_size):
            chunk = atoms_list[start : start + batch_size]
            data = [atoms_to_data(atoms, cutoff, float_dtype, total_charge_of(atoms)) for atoms in chunk]
            batch = Batch.from_data_list(data).to(model_device(model))
            with torch.enable_grad():
                outputs = model(batch, compute_forces=True, compute_stress=compute_stress)
            predictions.extend(_split_outputs(outputs, batch.ptr.tolist(), chunk, start))
            bar.update(len(chunk))
    return predictions


def model_device(model: torch.nn.Module) -> torch.device:
    """Return the device of the model's first parameter (CPU for a model without parameters)."""
    import torch

    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def _check_structure(index: int, atoms: Atoms, known: Sequence[int] | None, need_stress: bool, check_atoms: Any) -> None:
    """Validate one input structure and name it by its index in any error."""
    try:
        check_atoms(atoms)
    except ValueError as error:
        raise ValueError(f"structure {index} ({atoms.get_chemical_formula()}): {error}") from None
    if known is not None:
        unknown = sorted(set(atoms.numbers.tolist()) - set(int(z) for z in known))
        if unknown:
            raise ValueError(
                f"structure {index} ({atoms.get_chemical_formula()}) contains atomic numbers {unknown} that the "
                f"model was not trained on (it knows {sorted(int(z) for z in known)}); remove such structures"
            )
    if need_stress and not atoms.pbc.all():
        raise ValueError(
            f"structure {index} ({atoms.get_chemical_formula()}) is not periodic in all directions "
            f"(pbc={atoms.pbc.tolist()}), so it has no stress; predict without stress"
        )


def _as_atoms_list(structures: Any) -> list[Atoms]:
    """Turn one ``Atoms``, an iterable of them or a path into a list of ``Atoms``."""
    from ase import Atoms

    if isinstance(structures, (str, os.PathLike)):
        return read_structures(structures)
    if isinstance(structures, Atoms):
        return [structures]
    atoms_list = list(structures)
    for index, atoms in enumerate(atoms_list):
        if not isinstance(atoms, Atoms):
            raise TypeError(f"structure {index} is a {type(atoms).__name__}, expected ase.Atoms")
    return atoms_list


def _split_outputs(outputs: dict[str, Any], ptr: list[int], chunk: list[Atoms], offset: int) -> list[Prediction]:
    """Cut batched model outputs into one :class:`Prediction` per graph."""

    def numpy(name: str) -> np.ndarray | None:
        value = outputs.get(name)
        return None if value is None else value.detach().cpu().double().numpy()

    energy, forces, node_energy = numpy("energy"), numpy("forces"), numpy("node_energy")
    dipole, charges, stress = numpy("dipole"), numpy("charges"), numpy("stress")
    predictions = []
    for graph, atoms in enumerate(chunk):
        atoms_slice = slice(ptr[graph], ptr[graph + 1])
        predictions.append(
            Prediction(
                index=offset + graph,
                atoms=atoms,
                energy=float(energy.reshape(-1)[graph]),
                forces=forces[atoms_slice].copy(),
                node_energy=node_energy[atoms_slice].copy(),
                dipole=None if dipole is None else dipole.reshape(-1, 3)[graph].copy(),
                charges=None if charges is None else charges.reshape(-1)[atoms_slice].copy(),
                stress=None if stress is None else stress.reshape(-1, 3, 3)[graph].copy(),
            )
        )
    return predictions


def read_structures(path: str | os.PathLike[str], seed: int = 0) -> list[Atoms]:
    """Read structures from an extxyz (or any ASE-readable) file, a molmtl HDF5 file or a SMILES list.

    A SMILES list (``.smi``/``.smiles``) has one molecule per line, ``SMILES [name]``;
    blank lines and lines starting with ``#`` are skipped. Each molecule gets hydrogens,
    an RDKit ETKDG embedding (seeded by ``seed``) and an MMFF94 pre-relaxation, and its
    formal charge goes to ``atoms.info["charge"]``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file {path} not found")
    suffix = path.suffix.lower()
    if suffix in SMILES_SUFFIXES:
        return read_smiles_file(path, seed=seed)
    if suffix in HDF5_SUFFIXES:
        from molmtl.data.reader import H5Reader

        reader = H5Reader(path)
        try:
            return [structure.to_atoms() for structure in reader]
        finally:
            reader.close()
    from ase.io import read

    return list(read(path, index=":"))


def read_smiles_file(path: str | os.PathLike[str], seed: int = 0) -> list[Atoms]:
    """Read ``SMILES [name]`` lines and embed each molecule in 3D (see :func:`read_structures`)."""
    atoms_list = []
    for line_number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split(maxsplit=1)
        name = parts[1].strip() if len(parts) > 1 else parts[0]
        try:
            atoms_list.append(smiles_to_atoms(parts[0], seed=seed, name=name))
        except ValueError as error:
            raise ValueError(f"{path}, line {line_number}: {error}") from None
    if not atoms_list:
        raise ValueError(f"{path} contains no SMILES; write one molecule per line as 'SMILES [name]'")
    return atoms_list


def smiles_to_atoms(smiles: str, seed: int = 0, name: str | None = None) -> Atoms:
    """Build a 3D structure for ``smiles`` with RDKit (ETKDG embedding, then MMFF94 when available)."""
    from ase import Atoms
    from rdkit import Chem
    from rdkit.Chem import AllChem

    molecule = Chem.MolFromSmiles(smiles)
    if molecule is None:
        raise ValueError(f"RDKit cannot parse the SMILES {smiles!r}; check the string")
    molecule = Chem.AddHs(molecule)
    parameters = AllChem.ETKDGv3()
    parameters.randomSeed = int(seed)
    if AllChem.EmbedMolecule(molecule, parameters) != 0:
        parameters.useRandomCoords = True
        if AllChem.EmbedMolecule(molecule, parameters) != 0:
            raise ValueError(f"RDKit could not embed {smiles!r} in 3D")
    if AllChem.MMFFHasAllMoleculeParams(molecule):
        AllChem.MMFFOptimizeMolecule(molecule, maxIters=500)
    positions = molecule.GetConformer().GetPositions()
    numbers = [atom.GetAtomicNum() for atom in molecule.GetAtoms()]
    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.info["smiles"] = smiles
    atoms.info["name"] = name if name is not None else smiles
    atoms.info["charge"] = int(Chem.GetFormalCharge(molecule))
    return atoms


def relax_structures(
    atoms_list: list[Atoms],
    model: torch.nn.Module | str | os.PathLike[str],
    fmax: float = 0.05,
    steps: int = 200,
    device: str = "cpu",
    progress: bool = False,
) -> list[Atoms]:
    """Relax each structure with the model (ASE BFGS, fixed cell) and return relaxed copies.

    ``fmax`` is the force convergence threshold in eV/Å. A structure that has not converged
    after ``steps`` steps is returned as it is then, with ``atoms.info["relax_converged"] = False``.
    """
    from ase.optimize import BFGS
    from tqdm.auto import tqdm

    from molmtl.calculators.ase_calculator import MolMTLCalculator

    calculator = MolMTLCalculator(model, device=device)
    relaxed = []
    for atoms in tqdm(atoms_list, disable=not progress, unit="structure", desc="relax"):
        work = atoms.copy()
        work.calc = calculator
        optimizer = BFGS(work, logfile=None)
        converged = bool(optimizer.run(fmax=fmax, steps=steps))
        work.calc = None
        work.info["relax_converged"] = converged
        work.info["relax_steps"] = int(optimizer.nsteps)
        relaxed.append(work)
        calculator.neighbors.reset()
    return relaxed


def write_summary(predictions: Sequence[Prediction], path: str | os.PathLike[str]) -> None:
    """Write the per-structure summary as CSV or JSON (chosen by the suffix), atomically."""
    rows = [prediction.summary() for prediction in predictions]
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        clean = [{key: (None if isinstance(value, float) and np.isnan(value) else value) for key, value in row.items()} for row in rows]
        text = json.dumps({"units": _summary_units(), "structures": clean}, indent=2)
        atomic_write_text(text + "\n", path)
        return
    if suffix != ".csv":
        raise ValueError(f"unknown summary format {suffix!r} for {path}; use a .csv or .json file name")
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: (f"{value:.10g}" if isinstance(value, float) else value) for key, value in row.items()})
    atomic_write_text(buffer.getvalue(), path)


def _summary_units() -> dict[str, str]:
    return {"energy": "eV", "dipole": "e*Angstrom (about the centre of mass)", "force": "eV/Angstrom"}


def write_predicted_structures(predictions: Sequence[Prediction], path: str | os.PathLike[str]) -> None:
    """Write every structure with its predicted arrays (energy, forces, energies, dipole, charges) as extxyz."""
    from ase.io import write

    with atomic_path(path, suffix=".extxyz") as temporary:
        write(temporary, [prediction.to_atoms() for prediction in predictions], format="extxyz")
