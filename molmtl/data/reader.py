"""``H5Reader``: random access to the structures of a molmtl HDF5 file without loading it.

Memory holds the per-structure atom offsets (8 bytes per structure) and a bounded cache of
recently read blocks of per-structure fields. Atoms are read from the file when requested.
The HDF5 handle is opened lazily and reopened after a ``fork`` (DataLoader workers),
because h5py handles must not be shared between processes.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from molmtl.data import format as fmt
from molmtl.data import keys
from molmtl.data.structure import Structure

#: HDF5 chunk cache per open dataset, bytes. Large enough to hold a few compressed chunks.
CHUNK_CACHE_BYTES = 4 * 1024 * 1024

#: Per-structure fields are read in blocks of this many structures, and the most recently used
#: blocks are kept (about 200 bytes per structure each), because one HDF5 read per field and
#: structure costs more than the rest of building a graph for a small molecule.
STRUCTURE_BLOCK = 512
CACHED_BLOCKS = 16


class FormatError(ValueError):
    """A file that is not a readable molmtl HDF5 file (missing field, newer version)."""


class H5Reader:
    """Lazy reader of a molmtl HDF5 file, where ``reader[k]`` returns a :class:`Structure`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path} not found; create it with 'molmtl convert'")
        self._file: Any = None
        self._datasets: dict[str, Any] = {}
        self._blocks: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self._pid: int | None = None
        file = self._handle()
        check_file(file, self.path)
        self.offsets: np.ndarray = file[fmt.ATOM_OFFSETS][()]
        self.attrs: dict[str, Any] = {name: file.attrs[name] for name in file.attrs}
        self.units: dict[str, str] = json.loads(self.attrs.get("units", "{}"))
        self.provenance: dict[str, Any] = json.loads(self.attrs.get("provenance", "{}"))
        self.format_version = int(self.attrs["format_version"])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __enter__(self) -> H5Reader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"] = None
        state["_datasets"] = {}
        state["_blocks"] = OrderedDict()
        state["_pid"] = None
        return state

    def _handle(self) -> Any:
        """Return the open h5py file of this process, opening it on first use."""
        import h5py

        if self._file is None or self._pid != os.getpid():
            try:
                self._file = h5py.File(self.path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES, locking=False)
            except OSError as error:
                raise FormatError(
                    f"{self.path} is not a readable HDF5 file ({error}); it may be truncated, convert it "
                    "again"
                ) from error
            self._datasets = {}
            self._blocks = OrderedDict()
            self._pid = os.getpid()
        return self._file

    def _dataset(self, name: str) -> Any:
        """Return the open h5py dataset ``name``; keeping it open keeps its chunk cache warm."""
        file = self._handle()
        dataset = self._datasets.get(name)
        if dataset is None:
            dataset = self._datasets[name] = file[name]
        return dataset

    def _structure_block(self, index: int) -> tuple[dict[str, np.ndarray], int]:
        """Return the cached per-structure arrays of the block that holds ``index`` and the row in it."""
        number, row = divmod(index, STRUCTURE_BLOCK)
        block = self._blocks.get(number)
        if block is None:
            start = number * STRUCTURE_BLOCK
            stop = min(start + STRUCTURE_BLOCK, len(self))
            block = {name: self._dataset(name)[start:stop] for name in fmt.PER_STRUCTURE}
            self._blocks[number] = block
            if len(self._blocks) > CACHED_BLOCKS:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(number)
        return block, row

    def close(self) -> None:
        """Close the HDF5 handle; the next read reopens it."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None
        self._datasets = {}
        self._blocks = OrderedDict()

    def num_atoms(self, index: int) -> int:
        """Return the number of atoms of structure ``index``."""
        return int(self.offsets[index + 1] - self.offsets[index])

    def read_arrays(self, index: int) -> dict[str, Any]:
        """Return the raw arrays of structure ``index`` (labels zero where their mask is false)."""
        if not -len(self) <= index < len(self):
            raise IndexError(
                f"structure index {index} is out of range for {len(self)} structures in {self.path}"
            )
        index = index % len(self)
        start, stop = int(self.offsets[index]), int(self.offsets[index + 1])
        self._handle()
        block, row = self._structure_block(index)
        record: dict[str, Any] = {name: values[row] for name, values in block.items()}
        masks = {name: bool(record[keys.mask_key(name)]) for name in keys.LABELS}
        record[keys.ATOMIC_NUMBERS] = self._dataset(keys.ATOMIC_NUMBERS)[start:stop]
        record[keys.POSITIONS] = self._dataset(keys.POSITIONS)[start:stop]
        n_atoms = stop - start
        record[keys.FORCES] = (
            self._dataset(keys.FORCES)[start:stop] if masks[keys.FORCES] else np.zeros((n_atoms, 3))
        )
        record[keys.CHARGES] = (
            self._dataset(keys.CHARGES)[start:stop] if masks[keys.CHARGES] else np.zeros(n_atoms)
        )
        return record

    def read_text(self, index: int, name: str) -> str:
        """Return the string field ``name`` (config_type or molecule) of structure ``index``."""
        value = self._dataset(name)[index]
        return value.decode() if isinstance(value, bytes) else str(value)

    def __getitem__(self, index: int) -> Structure:
        record = self.read_arrays(index)
        index = index % len(self)

        def label(name: str) -> Any:
            return record[name] if record[keys.mask_key(name)] else None

        spin = int(record[fmt.SPIN_MULTIPLICITY])
        return Structure(
            numbers=record[keys.ATOMIC_NUMBERS],
            positions=record[keys.POSITIONS],
            cell=record[keys.CELL],
            pbc=record[keys.PBC],
            total_charge=float(record[keys.TOTAL_CHARGE]),
            energy=label(keys.ENERGY),
            forces=label(keys.FORCES),
            dipole=label(keys.DIPOLE),
            charges=label(keys.CHARGES),
            stress=label(keys.STRESS),
            weight=float(record[keys.WEIGHT]),
            config_type=self.read_text(index, fmt.CONFIG_TYPE),
            molecule=self.read_text(index, fmt.MOLECULE),
            spin_multiplicity=spin or None,
        )

    def __iter__(self) -> Iterator[Structure]:
        for index in range(len(self)):
            yield self[index]

    def read_column(self, name: str, chunk_rows: int = 1 << 16) -> np.ndarray:
        """Return a whole per-structure dataset (masks, energies, strings ...) read chunk by chunk."""
        dataset = self._handle()[name]
        if name in fmt.PER_STRUCTURE_TEXT:
            return np.array(
                [v.decode() if isinstance(v, bytes) else v for v in dataset.asstr()[()]], dtype=object
            )
        return dataset[()]

    def label_counts(self) -> dict[str, int]:
        """Return how many structures carry each label, from the presence masks."""
        file = self._handle()
        return {name: int(np.count_nonzero(file[keys.mask_key(name)][()])) for name in keys.LABELS}

    def elements(self) -> list[int]:
        """Return the sorted atomic numbers present in the file (reads the numbers dataset in chunks)."""
        dataset = self._handle()[keys.ATOMIC_NUMBERS]
        present = np.zeros(256, dtype=bool)
        step = fmt.ATOM_CHUNK_ROWS * 64
        for start in range(0, dataset.shape[0], step):
            present[np.unique(dataset[start : start + step])] = True
        return [int(z) for z in np.flatnonzero(present)]


def check_file(file: Any, path: Path) -> None:
    """Raise :class:`FormatError` unless ``file`` is a complete molmtl file of a supported version."""
    version = file.attrs.get("format_version")
    if file.attrs.get("format_name") != fmt.FORMAT_NAME or version is None:
        raise FormatError(
            f"{path} is not a molmtl HDF5 file (attribute format_name={file.attrs.get('format_name')!r}); "
            "convert the source data with 'molmtl convert'"
        )
    if int(version) > fmt.FORMAT_VERSION:
        raise FormatError(
            f"{path} has format_version {int(version)}, newer than {fmt.FORMAT_VERSION} that this molmtl "
            "reads; "
            "upgrade molmtl (pip install -U molmtl)"
        )
    for name in fmt.REQUIRED_DATASETS:
        if name not in file:
            raise FormatError(
                f"{path} has no '{name}' dataset, which every molmtl HDF5 file needs; the file is "
                "incomplete, convert it again"
            )
    num_structures = file[fmt.ATOM_OFFSETS].shape[0] - 1
    num_atoms = file[keys.POSITIONS].shape[0]
    for name in fmt.PER_STRUCTURE:
        if file[name].shape[0] != num_structures:
            raise FormatError(
                f"{path}: dataset '{name}' has {file[name].shape[0]} rows but the file has "
                f"{num_structures} structures; convert it again"
            )
    for name in fmt.PER_ATOM:
        if file[name].shape[0] != num_atoms:
            raise FormatError(
                f"{path}: dataset '{name}' has {file[name].shape[0]} rows but the file has {num_atoms} "
                "atoms; convert it again"
            )
