"""Save and load a :class:`~molmtl.nn.model.MolMTLModel` as one self-describing file.

The file is a ``torch.save`` dict of tensors and plain Python values only, so it loads with
``torch.load(weights_only=True)``:

* ``format``: ``"molmtl-model"`` and ``format_version`` (an integer, raised on incompatible
  changes);
* ``molmtl_version``: the version that wrote the file;
* ``config``: :meth:`ModelConfig.to_dict` (architecture, heads, element table, E0s, energy
  scale and shift, ``avg_num_neighbors``);
* ``state_dict``: weights and buffers;
* ``units``: the units of inputs and outputs.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from molmtl._version import __version__
from molmtl.atomic_io import atomic_torch_save
from molmtl.data import keys
from molmtl.nn.config import ModelConfig
from molmtl.nn.model import MolMTLModel

FORMAT_NAME = "molmtl-model"
FORMAT_VERSION = 1

_DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64"}


def model_units() -> dict[str, str]:
    """Return the units of the model's inputs and outputs."""
    return {
        keys.POSITIONS: "Angstrom",
        keys.CELL: "Angstrom",
        keys.TOTAL_CHARGE: "e",
        keys.ENERGY: "eV",
        keys.NODE_ENERGY: "eV",
        keys.FORCES: "eV/Angstrom",
        keys.STRESS: "eV/Angstrom^3",
        keys.VIRIAL: "eV",
        keys.CHARGES: "e",
        keys.DIPOLE: "e*Angstrom",
        "cutoff": "Angstrom",
        "e0s": "eV",
        "energy_scale": "eV",
        "energy_shift": "eV",
    }


def model_to_dict(model: MolMTLModel) -> dict[str, Any]:
    """Return the content of a model file for ``model`` (tensors and plain Python values)."""
    config = model.config.to_dict()
    config["dtype"] = _DTYPE_NAMES[model.dtype]
    state_dict = {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "molmtl_version": __version__,
        "config": config,
        "state_dict": state_dict,
        "units": model_units(),
        "dipole_reference": keys.DIPOLE_REFERENCE,
    }


def save_model(model: MolMTLModel, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``path`` atomically (a reader never sees a partial file)."""
    atomic_torch_save(model_to_dict(model), path)


def model_from_dict(
    content: dict[str, Any], dtype: torch.dtype | None = None, device: str | torch.device = "cpu", source: str = "model"
) -> MolMTLModel:
    """Rebuild a model from :func:`model_to_dict` output, optionally cast to ``dtype``."""
    if not isinstance(content, dict) or content.get("format") != FORMAT_NAME:
        raise ValueError(f"{source} is not a molmtl model file (no format={FORMAT_NAME!r} entry)")
    version = content.get("format_version")
    if not isinstance(version, int):
        raise ValueError(f"{source} has an invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{source} has model format version {version}, written by molmtl "
            f"{content.get('molmtl_version', 'unknown')}; this molmtl {__version__} reads versions up to "
            f"{FORMAT_VERSION}. Upgrade molmtl to load it."
        )
    config = ModelConfig.from_dict(dict(content["config"]))
    model = MolMTLModel(config)
    model.load_state_dict(content["state_dict"])
    if dtype is not None and dtype != model.dtype:
        if dtype not in _DTYPE_NAMES:
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        model.config.dtype = _DTYPE_NAMES[dtype]
        model.to(dtype)
    return model.to(device).eval()


def load_model(
    path: str | os.PathLike[str], dtype: torch.dtype | None = None, device: str | torch.device = "cpu"
) -> MolMTLModel:
    """Load a model written by :func:`save_model`, in evaluation mode.

    ``dtype`` (``torch.float32`` or ``torch.float64``) overrides the stored dtype. Loading
    uses ``torch.load(weights_only=True)``. A file with a newer format version raises
    ``ValueError``.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {os.fspath(path)!r} not found")
    content = torch.load(path, map_location="cpu", weights_only=True)
    return model_from_dict(content, dtype=dtype, device=device, source=f"model file {os.fspath(path)!r}")
