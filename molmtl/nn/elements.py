"""Element table: maps atomic numbers to the model's element indices."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from ase.data import atomic_masses, chemical_symbols
from torch import nn


class ElementTable(nn.Module):
    """Lookup from atomic number to the index of the element in the model's sorted element list.

    Also stores the per-element atomic masses (ASE's ``ase.data.atomic_masses``, in u) that
    the dipole head uses for the centre of mass.
    """

    def __init__(self, atomic_numbers: Sequence[int]) -> None:
        super().__init__()
        self.atomic_numbers = [int(z) for z in atomic_numbers]
        lookup = torch.full((len(chemical_symbols),), -1, dtype=torch.int64)
        lookup[torch.tensor(self.atomic_numbers)] = torch.arange(len(self.atomic_numbers))
        self.register_buffer("lookup", lookup, persistent=False)
        self.masses = torch.tensor([float(atomic_masses[z]) for z in self.atomic_numbers], dtype=torch.float64)

    def forward(self, numbers: torch.Tensor) -> torch.Tensor:
        """Return the element index [N] of each atomic number [N]; unknown elements raise ``ValueError``."""
        numbers = numbers.long()
        in_range = (numbers >= 0) & (numbers < self.lookup.numel())
        indices = torch.where(in_range, self.lookup[numbers.clamp(0, self.lookup.numel() - 1)], -1)
        if bool((indices < 0).any()):
            unknown = sorted({int(z) for z in numbers[indices < 0].tolist()})
            raise ValueError(
                f"unknown elements {self.describe(unknown)}: this model supports {self.describe(self.atomic_numbers)}; "
                "remove these atoms or train a model that includes the elements"
            )
        return indices

    @staticmethod
    def describe(numbers: Sequence[int]) -> str:
        """Format atomic numbers as ``H (1), C (6)`` for messages."""
        names = [f"{chemical_symbols[z]} ({z})" if 0 < z < len(chemical_symbols) else f"Z={z}" for z in numbers]
        return ", ".join(names)
