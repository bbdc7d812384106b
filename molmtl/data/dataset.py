"""``H5Dataset``: a lazy torch ``Dataset`` over a molmtl HDF5 file that yields torch-geometric ``Data``.

Each item is read from the file when requested and gets a vesin neighbour list, so memory
does not grow with the file size. The dataset is safe in a multi-worker ``DataLoader``:
every worker process opens its own HDF5 handle.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset

from molmtl.data import format as fmt
from molmtl.data import keys
from molmtl.data.neighbors import build_data
from molmtl.data.reader import H5Reader

if TYPE_CHECKING:
    from torch_geometric.data import Data


class H5Dataset(Dataset):
    """Structures of a molmtl HDF5 file as ``Data`` with the keys of :mod:`molmtl.data.keys`.

    ``cutoff`` (Å) sets the radius of the neighbour list and ``dtype`` the float type of
    positions, cell, shifts and labels. ``indices`` restricts the dataset to those
    structures (in that order). Every label is present with a ``[1]`` bool mask, and missing
    labels hold zeros. ``data.idx`` is the structure's index in the file.

    With ``cache=True`` every structure is built once (HDF5 read plus neighbour list, about
    9 ms for a 14-atom molecule) and then kept in memory, so later epochs skip that work.
    Memory then grows with the number of structures read, so use it for training sets that fit
    in memory. Subsets share their parent's cache, and each DataLoader worker has its own.
    Items returned from the cache are shared objects: treat them as read-only.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        cutoff: float,
        dtype: torch.dtype = torch.float64,
        indices: Sequence[int] | np.ndarray | None = None,
        cache: bool = False,
    ) -> None:
        if not cutoff > 0:
            raise ValueError(f"cutoff must be positive, got {cutoff} Angstrom")
        self.reader = H5Reader(path)
        self.path = self.reader.path
        self.cutoff = float(cutoff)
        self.dtype = dtype
        self.cache: dict[int, Data] | None = {} if cache else None
        total = len(self.reader)
        if indices is None:
            self.indices = np.arange(total, dtype=np.int64)
        else:
            self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
            if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= total):
                raise IndexError(
                    f"indices must lie in 0-{total - 1} for {self.path}, got min {self.indices.min()} "
                    f"and max {self.indices.max()}"
                )

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> Data:
        index = int(self.indices[item])
        if self.cache is not None:
            data = self.cache.get(index)
            if data is None:
                data = self.cache[index] = self._build(index)
            return data
        return self._build(index)

    def _build(self, index: int) -> Data:
        """Read structure ``index`` of the file and build its ``Data`` with a fresh neighbour list."""
        record = self.reader.read_arrays(index)
        data = build_data(
            numbers=record[keys.ATOMIC_NUMBERS],
            positions=record[keys.POSITIONS],
            cell=record[keys.CELL],
            pbc=record[keys.PBC],
            total_charge=float(record[keys.TOTAL_CHARGE]),
            cutoff=self.cutoff,
            dtype=self.dtype,
            weight=float(record[keys.WEIGHT]),
            spin_multiplicity=int(record[fmt.SPIN_MULTIPLICITY]),
        )
        for name, spec in keys.LABELS.items():
            value = torch.as_tensor(record[name], dtype=self.dtype)
            if spec.per == "structure":
                value = value.reshape(1, *spec.shape)
            data[name] = value
            data[keys.mask_key(name)] = torch.tensor([bool(record[keys.mask_key(name)])])
        data[keys.STRUCTURE_INDEX] = torch.tensor([index], dtype=torch.int64)
        return data

    def label_counts(self) -> dict[str, int]:
        """Return how many structures of this dataset carry each label (read from the masks)."""
        counts = {}
        for name in keys.LABELS:
            mask = self.reader.read_column(keys.mask_key(name))
            counts[name] = int(np.count_nonzero(mask[self.indices]))
        return counts

    def subset(self, indices: Sequence[int] | np.ndarray) -> H5Dataset:
        """Return a dataset over ``indices`` of this dataset (positions in it, not file indices)."""
        positions = np.asarray(indices, dtype=np.int64).reshape(-1)
        if positions.size and (positions.min() < -len(self) or positions.max() >= len(self)):
            raise IndexError(
                f"subset indices must lie in 0-{len(self) - 1}, got min {positions.min()} and max "
                f"{positions.max()}"
            )
        subset = H5Dataset(self.path, self.cutoff, self.dtype, self.indices[positions])
        subset.cache = self.cache
        return subset

    def atom_counts(self) -> np.ndarray:
        """Return the number of atoms of each structure of this dataset."""
        return np.diff(self.reader.offsets)[self.indices]
