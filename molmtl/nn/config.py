"""Hyperparameters and data statistics of a :class:`~molmtl.nn.model.MolMTLModel`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

#: Heads that a model can carry. ``dipole`` needs ``charges``.
KNOWN_HEADS = ("energy", "charges", "dipole")

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model: architecture, heads and data statistics.

    The fields are plain Python values (numbers, strings, lists, dicts), so a config is
    stored as it is inside a model file and loads with ``torch.load(weights_only=True)``.

    Architecture:

    * ``atomic_numbers``: the elements the model accepts (sorted on construction).
    * ``cutoff``: radial cutoff in Å. Every message is multiplied by the envelope, which is 0
      with zero derivatives up to order ``envelope_exponent`` at the cutoff.
    * ``num_channels``: channels per irreducible representation (irrep) of the node features.
    * ``l_max``: largest angular momentum of the spherical harmonics and node features. The
      node features carry the irreps ``0e + 1o + 2e + ...`` (parity ``(-1)^l``).
    * ``num_layers``: interaction layers (message-passing steps).
    * ``num_radial_basis``: number of Bessel functions of the radial basis.
    * ``envelope_exponent``: exponent ``p`` of the polynomial envelope (Gasteiger et al.,
      DimeNet, ICLR 2020).
    * ``correlation_order``: body order of the symmetric product of node features inside a
      layer (1 = plain two-body messages, as in NequIP; 2 or 3 = MACE-like products).
    * ``radial_mlp``: hidden widths of the MLP that maps the radial basis to the weights of
      each convolution.
    * ``readout_hidden``: hidden width of the energy readout MLP.
    * ``heads``: enabled heads, a subset of ``("energy", "charges", "dipole")``.
    * ``dtype``: ``"float64"`` or ``"float32"``, the dtype of the weights and features.
    * ``min_distance``: two atoms of one structure closer than this (Å) raise an error.

    Data statistics (set by the trainer, defaults are neutral):

    * ``e0s``: per-element reference energy in eV, ``{atomic_number: E0}``. An atom with no
      neighbour inside the cutoff has exactly this energy. Missing elements count as 0.
    * ``energy_scale``: eV per unit of network output (typically the RMS of the force
      components, or the RMS of the per-atom energy residuals).
    * ``energy_shift``: per-atom energy shift in eV (mean per-atom residual after E0). It is
      applied through a smooth coordination gate so that an isolated atom keeps E = E0
      (see :class:`~molmtl.nn.heads.energy.EnergyHead`).
    * ``avg_num_neighbors``: mean number of neighbours per atom inside the cutoff; the sum of
      messages into an atom is divided by it.
    """

    atomic_numbers: list[int]
    cutoff: float = 5.0
    num_channels: int = 32
    l_max: int = 1
    num_layers: int = 2
    num_radial_basis: int = 8
    envelope_exponent: int = 6
    correlation_order: int = 3
    radial_mlp: list[int] = field(default_factory=lambda: [64, 64])
    readout_hidden: int = 16
    heads: list[str] = field(default_factory=lambda: list(KNOWN_HEADS))
    dtype: str = "float64"
    min_distance: float = 0.1
    e0s: dict[int, float] = field(default_factory=dict)
    energy_scale: float = 1.0
    energy_shift: float = 0.0
    avg_num_neighbors: float = 1.0

    def __post_init__(self) -> None:
        self.atomic_numbers = sorted({int(z) for z in self.atomic_numbers})
        self.radial_mlp = [int(width) for width in self.radial_mlp]
        self.heads = [str(head) for head in self.heads]
        self.e0s = {int(z): float(value) for z, value in self.e0s.items()}
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` on an option outside its valid range."""
        if not self.atomic_numbers:
            raise ValueError("atomic_numbers is empty; list the elements the model must accept, e.g. [1, 6, 8]")
        invalid = [z for z in self.atomic_numbers if not 1 <= z <= 118]
        if invalid:
            raise ValueError(f"atomic_numbers {invalid} are not elements; use atomic numbers from 1 to 118")
        unknown_e0 = sorted(set(self.e0s) - set(self.atomic_numbers))
        if unknown_e0:
            raise ValueError(f"e0s lists elements {unknown_e0} that are not in atomic_numbers {self.atomic_numbers}")
        if not self.cutoff > 0:
            raise ValueError(f"cutoff must be positive (Angstrom), got {self.cutoff}")
        for name in ("num_channels", "num_layers", "num_radial_basis", "envelope_exponent", "correlation_order"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.l_max < 0:
            raise ValueError(f"l_max must be 0 or more, got {self.l_max}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")
        unknown_heads = sorted(set(self.heads) - set(KNOWN_HEADS))
        if unknown_heads:
            raise ValueError(f"unknown heads {unknown_heads}; known heads are {list(KNOWN_HEADS)}")
        if "dipole" in self.heads and "charges" not in self.heads:
            raise ValueError("the dipole head needs the charges head; add 'charges' to heads")
        if "dipole" in self.heads and self.l_max < 1:
            raise ValueError("the dipole head needs l=1 features; set l_max >= 1 or remove 'dipole' from heads")
        if not self.avg_num_neighbors > 0:
            raise ValueError(f"avg_num_neighbors must be positive, got {self.avg_num_neighbors}")
        if not self.energy_scale > 0:
            raise ValueError(f"energy_scale must be positive (eV), got {self.energy_scale}")
        if self.min_distance < 0:
            raise ValueError(f"min_distance must be 0 or more (Angstrom), got {self.min_distance}")

    @property
    def torch_dtype(self) -> torch.dtype:
        """The torch dtype named by ``dtype``."""
        return _DTYPES[self.dtype]

    def to_dict(self) -> dict[str, Any]:
        """Return the config as plain Python containers (safe for ``weights_only`` loading)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Build a config from :meth:`to_dict` output; unknown keys raise ``ValueError``."""
        names = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields {unknown}; valid fields are {sorted(names)}")
        return cls(**values)
