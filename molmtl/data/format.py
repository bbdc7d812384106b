"""Layout of a molmtl HDF5 file: dataset names, dtypes, chunking and the format version.

A file stores structures of any size as concatenated per-atom arrays plus per-structure
arrays, all at the root of the file:

* ``atom_offsets`` [S + 1] int64: atoms of structure ``k`` are rows
  ``atom_offsets[k]:atom_offsets[k + 1]`` of every per-atom dataset.
* per-atom: ``numbers`` [A] uint8, ``pos`` [A, 3], ``forces`` [A, 3], ``charges`` [A].
* per-structure: ``cell`` [S, 3, 3], ``pbc`` [S, 3] bool, ``total_charge`` [S],
  ``weight`` [S], ``energy`` [S], ``dipole`` [S, 3], ``stress`` [S, 3, 3],
  ``spin_multiplicity`` [S] int16 (0 = unknown), ``config_type`` and ``molecule`` [S]
  UTF-8 strings, and one ``<label>_mask`` [S] bool per label.

A missing label is stored as zeros with ``False`` in its mask. Root attributes hold
``format_name``, ``format_version``, ``units`` (JSON: quantity -> unit) and ``provenance``
(JSON: free-form, at least source, level of theory and command when known).
"""

from __future__ import annotations

import numpy as np

from molmtl.data import keys

FORMAT_NAME = "molmtl-hdf5"
FORMAT_VERSION = 1

ATOM_OFFSETS = "atom_offsets"
SPIN_MULTIPLICITY = keys.SPIN_MULTIPLICITY
CONFIG_TYPE = "config_type"
MOLECULE = "molecule"

#: Per-atom datasets: name -> (trailing shape, dtype).
PER_ATOM: dict[str, tuple[tuple[int, ...], type]] = {
    keys.ATOMIC_NUMBERS: ((), np.uint8),
    keys.POSITIONS: ((3,), np.float64),
    keys.FORCES: ((3,), np.float64),
    keys.CHARGES: ((), np.float64),
}

#: Per-structure numeric datasets: name -> (trailing shape, dtype).
PER_STRUCTURE: dict[str, tuple[tuple[int, ...], type]] = {
    keys.CELL: ((3, 3), np.float64),
    keys.PBC: ((3,), np.bool_),
    keys.TOTAL_CHARGE: ((), np.float64),
    keys.WEIGHT: ((), np.float64),
    keys.ENERGY: ((), np.float64),
    keys.DIPOLE: ((3,), np.float64),
    keys.STRESS: ((3, 3), np.float64),
    SPIN_MULTIPLICITY: ((), np.int16),
    **{keys.mask_key(name): ((), np.bool_) for name in keys.LABELS},
}

#: Per-structure string datasets.
PER_STRUCTURE_TEXT: tuple[str, ...] = (CONFIG_TYPE, MOLECULE)

#: Every dataset a valid file must contain.
REQUIRED_DATASETS: tuple[str, ...] = (ATOM_OFFSETS, *PER_ATOM, *PER_STRUCTURE, *PER_STRUCTURE_TEXT)

#: Rows per chunk. A per-atom chunk of 8192 rows of [3] float64 is 192 KiB before compression.
ATOM_CHUNK_ROWS = 8192
STRUCTURE_CHUNK_ROWS = 2048
COMPRESSION = "gzip"
COMPRESSION_LEVEL = 4
