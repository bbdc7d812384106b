"""Importers from other dataset layouts to molmtl HDF5, one module per layout.

:data:`IMPORTERS` maps the ``--format`` names of ``molmtl convert`` to importer classes;
:func:`detect_format` picks one from a file's suffix and contents.
"""

from __future__ import annotations

from pathlib import Path

from molmtl.data.importers.ani import AniImporter
from molmtl.data.importers.ase_db import AseDbImporter
from molmtl.data.importers.ase_file import AseAnyImporter, AseFileImporter
from molmtl.data.importers.base import KEYED_LABELS, Importer, ImportOptions
from molmtl.data.importers.rmd17 import Rmd17Importer
from molmtl.data.importers.spice import SpiceImporter

IMPORTERS: dict[str, type[Importer]] = {
    "extxyz": AseFileImporter,
    "asedb": AseDbImporter,
    "rmd17": Rmd17Importer,
    "spice": SpiceImporter,
    "ani": AniImporter,
    "ase": AseAnyImporter,
}

#: Order in which :func:`detect_format` tries the importers (the generic ASE reader last).
DETECTION_ORDER = ("extxyz", "asedb", "rmd17", "spice", "ani", "ase")


def detect_format(path: str | Path) -> str:
    """Return the importer name for ``path``; raise ``ValueError`` when no importer recognises it."""
    path = Path(path)
    if _is_molmtl_file(path):
        raise ValueError(f"{path} is already a molmtl HDF5 file; read it directly or run molmtl info on it")
    for name in DETECTION_ORDER:
        if IMPORTERS[name].detect(path):
            return name
    raise ValueError(
        f"cannot tell the format of {path} from its name and contents; pass --format with one of "
        f"{', '.join(IMPORTERS)}"
    )


def _is_molmtl_file(path: Path) -> bool:
    from molmtl.data.format import FORMAT_NAME

    try:
        import h5py

        with h5py.File(path, "r") as file:
            return file.attrs.get("format_name") == FORMAT_NAME
    except OSError:
        return False


__all__ = ["IMPORTERS", "KEYED_LABELS", "ImportOptions", "Importer", "detect_format"]
