"""Description of a molmtl HDF5 file for ``molmtl info``: counts, elements, labels, units, provenance."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from ase.data import chemical_symbols

from molmtl.data import format as fmt
from molmtl.data import keys
from molmtl.data.reader import H5Reader
from molmtl.data.summary import DatasetSummary


def describe_file(path: str | os.PathLike[str], ranges: bool = False) -> dict[str, Any]:
    """Return counts, elements, label coverage, units and provenance of the file at ``path``.

    Counts come from the offsets and presence masks and elements from one chunked pass over
    the atomic numbers. With ``ranges`` every structure is read to add label ranges.
    """
    reader = H5Reader(path)
    atom_counts = np.diff(reader.offsets)
    numbers = reader._dataset(keys.ATOMIC_NUMBERS)
    element_counts = np.zeros(256, dtype=np.int64)
    step = fmt.ATOM_CHUNK_ROWS * 64
    for start in range(0, numbers.shape[0], step):
        element_counts += np.bincount(numbers[start : start + step], minlength=256)
    config_types, config_counts = np.unique(
        reader.read_column(fmt.CONFIG_TYPE).astype(str), return_counts=True
    )
    charges, charge_counts = np.unique(reader.read_column(keys.TOTAL_CHARGE), return_counts=True)
    description: dict[str, Any] = {
        "file": str(reader.path),
        "format_version": reader.format_version,
        "num_structures": len(reader),
        "num_atoms": int(atom_counts.sum()),
        "atoms_per_structure": [int(atom_counts.min()), int(atom_counts.max())] if len(reader) else [0, 0],
        "elements": {chemical_symbols[z]: int(element_counts[z]) for z in np.flatnonzero(element_counts)},
        "label_counts": reader.label_counts(),
        "total_charges": {float(q): int(c) for q, c in zip(charges, charge_counts)},
        "config_types": {str(t): int(c) for t, c in zip(config_types, config_counts)},
        "periodic_structures": int(np.count_nonzero(reader.read_column(keys.PBC).any(axis=1))),
        "units": reader.units,
        "provenance": reader.provenance,
    }
    if ranges:
        summary = DatasetSummary()
        for structure in reader:
            summary.add(structure)
        description["ranges"] = summary.as_dict()["ranges"]
    reader.close()
    return description


def format_description(description: dict[str, Any]) -> str:
    """Return ``description`` (from :func:`describe_file`) as readable text."""
    n = max(description["num_structures"], 1)
    lines = [
        f"file: {description['file']} (molmtl HDF5, format version {description['format_version']})",
        f"structures: {description['num_structures']} ({description['num_atoms']} atoms, "
        f"{description['atoms_per_structure'][0]} .. {description['atoms_per_structure'][1]} per structure, "
        f"{description['periodic_structures']} periodic)",
        "elements (atoms): " + ", ".join(f"{s} {c}" for s, c in description["elements"].items()),
        "total charge (structures): "
        + ", ".join(f"{q:+g}: {c}" for q, c in description["total_charges"].items()),
        "config types: " + ", ".join(f"{t}: {c}" for t, c in list(description["config_types"].items())[:20]),
        "label coverage:",
    ]
    for name, count in description["label_counts"].items():
        unit = description["units"].get(name, "")
        lines.append(
            f"  {name:8s} {count:8d} / {description['num_structures']} ({100.0 * count / n:5.1f} %)  [{unit}]"
        )
    if "ranges" in description:
        lines.append("ranges:")
        for name, (low, high) in description["ranges"].items():
            lines.append(f"  {name:16s} {low:.6g} .. {high:.6g}")
    lines.append("units: " + ", ".join(f"{k} {v}" for k, v in description["units"].items()))
    lines.append("provenance:")
    for key, value in description["provenance"].items():
        lines.append(f"  {key}: {value}")
    return "\n".join(lines)
