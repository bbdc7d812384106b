"""``H5Writer``: writes structures to a molmtl HDF5 file in batches, atomically.

The file is built under a temporary name in the target's folder and moved over the target
with ``os.replace`` only when the ``with`` block ends without an exception. A failed or
killed run therefore leaves the previous file (or no file) under the target name.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from molmtl.data import format as fmt
from molmtl.data import keys
from molmtl.data.structure import Structure
from molmtl.data.validation import InvalidStructureError, validate_structure

if TYPE_CHECKING:
    import h5py
    from ase import Atoms


class H5Writer:
    """Context manager that appends structures to a new molmtl HDF5 file.

    ``provenance`` is stored as JSON in the file (source file, level of theory, command and
    anything else), and its values must be JSON-serialisable. Every appended structure is
    validated (see :func:`~molmtl.data.validation.validate_structure`), and an invalid one raises
    :class:`~molmtl.data.validation.InvalidStructureError` and nothing is written under
    ``path``. An existing ``path`` raises ``FileExistsError`` unless ``overwrite`` is true.
    Closing a writer with no structures raises ``ValueError``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        provenance: Mapping[str, Any] | None = None,
        overwrite: bool = False,
        validate: bool = True,
    ) -> None:
        self.path = Path(path)
        self.provenance = dict(provenance or {})
        self.overwrite = overwrite
        self.validate = validate
        self.num_structures = 0
        self.num_atoms = 0
        self._file: h5py.File | None = None
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> H5Writer:
        import h5py

        from molmtl.atomic_io import atomic_path

        if self.path.exists() and not self.overwrite:
            raise FileExistsError(
                f"{self.path} exists; choose another name or pass overwrite=True (--overwrite)"
            )
        json.dumps(self.provenance)  # fail before any work if provenance cannot be stored
        self._stack = contextlib.ExitStack()
        temporary = self._stack.enter_context(atomic_path(self.path))
        self._file = h5py.File(temporary, "w")
        self._create_datasets(self._file)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> bool:
        assert self._stack is not None and self._file is not None
        try:
            if kind is None:
                if self.num_structures == 0:
                    raise ValueError(
                        f"no structures were written to {self.path}; the input has none that are valid"
                    )
                self._finish(self._file)
            self._file.close()
        except BaseException as failure:
            with contextlib.suppress(Exception):
                self._file.close()
            self._stack.__exit__(type(failure), failure, failure.__traceback__)
            raise
        finally:
            self._file = None
        return bool(self._stack.__exit__(kind, error, traceback))

    def append_atoms(
        self, atoms_list: Iterable[Atoms], keys_map: Mapping[str, str | None] | None = None
    ) -> None:
        """Append ASE ``Atoms``, converted with :meth:`Structure.from_atoms`."""
        structures = []
        for offset, atoms in enumerate(atoms_list):
            try:
                structures.append(Structure.from_atoms(atoms, keys_map))
            except InvalidStructureError as error:
                raise error.at(self.num_structures + offset) from None
        self.append(structures)

    def append(self, structures: Iterable[Structure]) -> None:
        """Append a batch of structures (validated first, then written with one resize per dataset)."""
        if self._file is None:
            raise RuntimeError("H5Writer.append is called outside its with block")
        batch = list(structures)
        if not batch:
            return
        if self.validate:
            for offset, structure in enumerate(batch):
                try:
                    validate_structure(structure)
                except InvalidStructureError as error:
                    raise error.at(self.num_structures + offset) from None
        self._write_batch(self._file, batch)

    # -- layout ------------------------------------------------------------------------

    def _create_datasets(self, file: h5py.File) -> None:
        import h5py

        file.attrs["format_name"] = fmt.FORMAT_NAME
        file.attrs["format_version"] = fmt.FORMAT_VERSION
        file.attrs["units"] = json.dumps(keys.UNITS)
        compression = {
            "compression": fmt.COMPRESSION,
            "compression_opts": fmt.COMPRESSION_LEVEL,
            "shuffle": True,
        }
        offsets = file.create_dataset(
            fmt.ATOM_OFFSETS,
            shape=(1,),
            maxshape=(None,),
            dtype=np.int64,
            chunks=(fmt.STRUCTURE_CHUNK_ROWS,),
            **compression,
        )
        offsets[0] = 0
        for name, (shape, dtype) in fmt.PER_ATOM.items():
            file.create_dataset(
                name,
                shape=(0, *shape),
                maxshape=(None, *shape),
                dtype=dtype,
                chunks=(fmt.ATOM_CHUNK_ROWS, *shape),
                **compression,
            )
        for name, (shape, dtype) in fmt.PER_STRUCTURE.items():
            file.create_dataset(
                name,
                shape=(0, *shape),
                maxshape=(None, *shape),
                dtype=dtype,
                chunks=(fmt.STRUCTURE_CHUNK_ROWS, *shape),
                **compression,
            )
        for name in fmt.PER_STRUCTURE_TEXT:
            file.create_dataset(
                name,
                shape=(0,),
                maxshape=(None,),
                dtype=h5py.string_dtype("utf-8"),
                chunks=(fmt.STRUCTURE_CHUNK_ROWS,),
                **compression,
            )

    def _write_batch(self, file: h5py.File, batch: list[Structure]) -> None:
        counts = np.array([len(s) for s in batch], dtype=np.int64)
        atom_start, atom_stop = self.num_atoms, self.num_atoms + int(counts.sum())
        start, stop = self.num_structures, self.num_structures + len(batch)

        per_atom = {
            keys.ATOMIC_NUMBERS: np.concatenate([s.numbers for s in batch]),
            keys.POSITIONS: np.concatenate([s.positions for s in batch]),
            keys.FORCES: np.concatenate([_or_zeros(s.forces, (len(s), 3)) for s in batch]),
            keys.CHARGES: np.concatenate([_or_zeros(s.charges, (len(s),)) for s in batch]),
        }
        per_structure = {
            keys.CELL: np.stack([s.cell for s in batch]),
            keys.PBC: np.stack([s.pbc for s in batch]),
            keys.TOTAL_CHARGE: np.array([s.total_charge for s in batch]),
            keys.WEIGHT: np.array([s.weight for s in batch]),
            keys.ENERGY: np.array([0.0 if s.energy is None else s.energy for s in batch]),
            keys.DIPOLE: np.stack([_or_zeros(s.dipole, (3,)) for s in batch]),
            keys.STRESS: np.stack([_or_zeros(s.stress, (3, 3)) for s in batch]),
            fmt.SPIN_MULTIPLICITY: np.array([s.spin_multiplicity or 0 for s in batch]),
        }
        for name in keys.LABELS:
            per_structure[keys.mask_key(name)] = np.array([getattr(s, name) is not None for s in batch])

        offsets = file[fmt.ATOM_OFFSETS]
        offsets.resize((stop + 1,))
        offsets[start + 1 : stop + 1] = atom_start + np.cumsum(counts)
        for name, values in per_atom.items():
            dataset = file[name]
            dataset.resize((atom_stop, *dataset.shape[1:]))
            dataset[atom_start:atom_stop] = values
        for name, values in per_structure.items():
            dataset = file[name]
            dataset.resize((stop, *dataset.shape[1:]))
            dataset[start:stop] = values
        for name in fmt.PER_STRUCTURE_TEXT:
            dataset = file[name]
            dataset.resize((stop,))
            dataset[start:stop] = [getattr(s, name) for s in batch]
        self.num_structures, self.num_atoms = stop, atom_stop

    def _finish(self, file: h5py.File) -> None:
        provenance = dict(self.provenance)
        provenance.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
        file.attrs["provenance"] = json.dumps(provenance)
        file.attrs["num_structures"] = self.num_structures
        file.attrs["num_atoms"] = self.num_atoms


def _or_zeros(value: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros(shape) if value is None else value
