"""molmtl: multi-task learning on molecules.

One E(3)-equivariant message-passing encoder is shared by several heads
(energy, forces, stress, partial charges, dipole). Units inside the package
are ASE's: eV, Å, e, e·Å, eV/Å^3.

The heavy submodules are imported on first use, so ``import molmtl`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from molmtl._version import __version__

_LAZY_EXPORTS = {
    "load_model": ("molmtl.nn.serialization", "load_model"),
    "save_model": ("molmtl.nn.serialization", "save_model"),
    "MolMTLModel": ("molmtl.nn.model", "MolMTLModel"),
    "ModelConfig": ("molmtl.nn.config", "ModelConfig"),
    "MolMTLCalculator": ("molmtl.calculators.ase_calculator", "MolMTLCalculator"),
    "predict": ("molmtl.prediction", "predict"),
    "H5Dataset": ("molmtl.data.dataset", "H5Dataset"),
}

__all__ = ["__version__", *_LAZY_EXPORTS]


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY_EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'molmtl' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module_name), attribute)
