"""ASE calculators for molmtl models and the skin (Verlet) neighbour list they use in MD.

``MolMTLCalculator`` is imported on first use, so importing this package does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY_EXPORTS = {
    "MolMTLCalculator": "molmtl.calculators.ase_calculator",
    "SkinNeighborList": "molmtl.calculators.skin_neighbors",
}

__all__ = list(_LAZY_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module_name = _LAZY_EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'molmtl.calculators' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module_name), name)
