"""Readers and writers of per-residue protein label files.

Formats:

* **CSV** in the NetSurfP-2.0 style layout ``input,dssp3,dssp8,...``: one chain per row,
  ``input`` is the sequence and ``dssp3`` / ``dssp8`` are label strings of the same length.
  Optional columns: ``id``; ``rsa`` and ``asa`` (space-separated floats, ``nan`` or ``-`` when
  missing); and 0/1 mask columns with one space-separated value per residue. The columns named
  in ``mask_columns`` (default ``disorder``) mark residues whose labels are all missing where the
  value is 0 (a mask column absent from the file is ignored), which is how the NetSurfP files flag residues without coordinates. Pass
  ``mask_columns=("disorder", "cb513_mask")`` to keep only the residues of the original CB513
  fragments.
* **FASTA plus label files**: label files are FASTA files with the same record ids, whose
  "sequence" is an 8-state or 3-state string, or whitespace-separated RSA values.
* **DSSP output** (classic fixed-column format of DSSP 2-4): 8-state labels and ACC (Å^2),
  turned into RSA with :func:`molmtl.protein.labels.relative_accessibility`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from molmtl.atomic_io import atomic_write_text
from molmtl.protein.labels import (
    SS8_STATES,
    indices_to_string,
    relative_accessibility,
    ss3_indices,
    ss8_indices,
)
from molmtl.protein.record import ProteinRecord

csv.field_size_limit(2**30)


def _parse_floats(text: str, name: str) -> np.ndarray:
    values = []
    for token in text.split():
        if token in ("-", "?", "nan", "NaN", "NA"):
            values.append(math.nan)
            continue
        try:
            values.append(float(token))
        except ValueError as error:
            raise ValueError(f"{name}: invalid number {token!r}; use 'nan' for a missing value") from error
    return np.array(values, dtype=np.float64)


def read_csv(path: str | Path, mask_columns: Sequence[str] = ("disorder",)) -> list[ProteinRecord]:
    """Read chains from a CSV in the ``input,dssp3,dssp8,...`` layout (see the module docstring)."""
    path = Path(path)
    records = []
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        columns = reader.fieldnames or []
        if "input" not in columns:
            raise ValueError(f"{path}: no 'input' column (found {columns}); the sequence column must be named 'input'")
        for row_number, row in enumerate(reader, start=1):
            name = row.get("id") or f"{path.stem}_{row_number}"
            where = f"{path}:{name}"
            ss8 = ss8_indices(row["dssp8"], where + ":dssp8") if row.get("dssp8") else None
            ss3 = ss3_indices(row["dssp3"], where + ":dssp3") if row.get("dssp3") else None
            rsa = _parse_floats(row["rsa"], where + ":rsa") if row.get("rsa") else None
            asa = _parse_floats(row["asa"], where + ":asa") if row.get("asa") else None
            if rsa is None and asa is not None:
                rsa = relative_accessibility(asa, row["input"].upper())
            record = ProteinRecord(name, row["input"], ss8=ss8, ss3=ss3, rsa=rsa, asa=asa)
            for column in mask_columns:
                if column in columns and row.get(column):
                    keep = _parse_floats(row[column], f"{where}:{column}")
                    if keep.shape != (len(record),):
                        raise ValueError(f"{where}: column {column!r} has {keep.size} values for {len(record)} residues")
                    record.mask_residues(keep > 0.5)
            records.append(record)
    if not records:
        raise ValueError(f"{path}: the CSV file contains no chains")
    return records


def write_csv(records: Iterable[ProteinRecord], path: str | Path) -> None:
    """Write ``records`` atomically as ``id,input,dssp3,dssp8,rsa,asa`` (missing: ``?`` and ``nan``)."""
    header = ["id", "input", "dssp3", "dssp8", "rsa", "asa"]

    def floats(values: np.ndarray | None) -> str:
        if values is None:
            return ""
        tokens = [f"{value:.4f}" if np.isfinite(value) else "nan" for value in values]
        return " ".join(tokens)

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for record in records:
        writer.writerow(
            [record.id, record.sequence, record.ss3_string() or "", record.ss8_string() or "",
             floats(record.rsa), floats(record.asa)]
        )
    atomic_write_text(buffer.getvalue(), path)


def read_fasta(path: str | Path) -> list[tuple[str, str]]:
    """Read ``(id, sequence)`` pairs from a FASTA file; the id is the header's first word."""
    path = Path(path)
    entries: list[tuple[str, list[str]]] = []
    with open(path, encoding="utf-8") as stream:
        for line_number, line in enumerate(stream, start=1):
            line = line.rstrip("\n")
            if line.startswith(">"):
                words = line[1:].split()
                entries.append((words[0] if words else f"{path.stem}_{len(entries) + 1}", []))
            elif line.strip() and not line.startswith(";"):
                if not entries:
                    raise ValueError(f"{path}:{line_number}: sequence data before the first '>' header")
                entries[-1][1].append(line.strip())
    if not entries:
        raise ValueError(f"{path}: no FASTA records found (headers start with '>')")
    ids = [name for name, _ in entries]
    duplicates = sorted({name for name in ids if ids.count(name) > 1})
    if duplicates:
        raise ValueError(f"{path}: duplicate record ids {duplicates[:5]}")
    return [(name, "".join(parts)) for name, parts in entries]


def read_fasta_with_labels(
    fasta: str | Path,
    ss8: str | Path | None = None,
    ss3: str | Path | None = None,
    rsa: str | Path | None = None,
) -> list[ProteinRecord]:
    """Read sequences from ``fasta`` and labels from FASTA-style label files with the same ids.

    A record missing from a label file has no labels of that kind (the task is masked for it).
    In the RSA file the values of one record may span several lines.
    """
    sequences = read_fasta(fasta)
    ss8_map = dict(read_fasta(ss8)) if ss8 else {}
    ss3_map = dict(read_fasta(ss3)) if ss3 else {}
    rsa_map: dict[str, str] = {}
    if rsa:
        rsa_map = _read_fasta_values(rsa)
    known = {name for name, _ in sequences}
    for label_map, label_path in ((ss8_map, ss8), (ss3_map, ss3), (rsa_map, rsa)):
        unknown = sorted(set(label_map) - known)
        if unknown:
            raise ValueError(f"{label_path}: ids {unknown[:5]} are not in {fasta}; label files must use the FASTA ids")
    records = []
    for name, sequence in sequences:
        records.append(
            ProteinRecord(
                name,
                sequence,
                ss8=ss8_indices(ss8_map[name], f"{ss8}:{name}") if name in ss8_map else None,
                ss3=ss3_indices(ss3_map[name], f"{ss3}:{name}") if name in ss3_map else None,
                rsa=_parse_floats(rsa_map[name], f"{rsa}:{name}") if name in rsa_map else None,
            )
        )
    return records


def _read_fasta_values(path: str | Path) -> dict[str, str]:
    values: dict[str, list[str]] = {}
    current = None
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            if line.startswith(">"):
                current = line[1:].split()[0]
                values[current] = []
            elif line.strip() and current is not None:
                values[current].append(line.strip())
    return {name: " ".join(parts) for name, parts in values.items()}


def read_dssp(path: str | Path, chain: str | None = None) -> list[ProteinRecord]:
    """Read one record per chain from a classic DSSP output file.

    Chain-break lines (``!``) are skipped. Lower-case amino-acid letters, which DSSP uses for
    cysteines in disulfide bridges, are read as ``C``. ACC (Å^2) is stored in ``asa`` and
    converted to ``rsa``.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("  #  RESIDUE")), None)
    if start is None:
        raise ValueError(f"{path}: not a DSSP file (no '  #  RESIDUE' table header)")
    chains: dict[str, dict[str, list]] = {}
    for line in lines[start + 1 :]:
        if len(line) < 38 or line[13] == "!":
            continue
        chain_id = line[11]
        if chain is not None and chain_id != chain:
            continue
        letter = line[13]
        letter = "C" if letter.islower() else letter
        data = chains.setdefault(chain_id, {"sequence": [], "ss8": [], "acc": []})
        data["sequence"].append(letter)
        data["ss8"].append(line[16] if line[16] != " " else "C")
        data["acc"].append(float(line[34:38]))
    if not chains:
        raise ValueError(f"{path}: no residues found" + (f" for chain {chain!r}" if chain else ""))
    records = []
    for chain_id, data in chains.items():
        sequence = "".join(data["sequence"])
        asa = np.array(data["acc"], dtype=np.float64)
        records.append(
            ProteinRecord(
                f"{path.stem}" if len(chains) == 1 else f"{path.stem}_{chain_id}",
                sequence,
                ss8=ss8_indices("".join(data["ss8"]), str(path)),
                rsa=relative_accessibility(asa, sequence),
                asa=asa,
                metadata={"chain": chain_id, "source": str(path)},
            )
        )
    return records


def read_labels(path: str | Path, mask_columns: Sequence[str] = ("disorder",)) -> list[ProteinRecord]:
    """Read a labelled data file by its suffix: ``.csv``, ``.dssp`` or a folder of ``.dssp`` files."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.dssp"))
        if not files:
            raise ValueError(f"{path}: the folder contains no .dssp files")
        return [record for file in files for record in read_dssp(file)]
    if path.suffix.lower() == ".csv":
        return read_csv(path, mask_columns=mask_columns)
    if path.suffix.lower() == ".dssp":
        return read_dssp(path)
    raise ValueError(
        f"{path}: unknown label file type {path.suffix!r}; use a .csv file, a .dssp file or a folder of "
        ".dssp files (FASTA plus label files are read with read_fasta_with_labels)"
    )


__all__ = [
    "SS8_STATES",
    "indices_to_string",
    "read_csv",
    "read_dssp",
    "read_fasta",
    "read_fasta_with_labels",
    "read_labels",
    "write_csv",
]
