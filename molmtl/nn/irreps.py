"""Irrep layouts of node features and the Clebsch-Gordan tensors of channel-wise tensor products.

Node and edge features are stored as ``[N, D, C]``: ``D`` irrep components for each of ``C``
channels, every channel holding the same list of irreps (a *layout*). Blocks of the same
irrep sit next to each other and are interleaved component by component (``m``-major,
block-minor), so that an equivariant linear layer reads each irrep as one contiguous
``[N, 2l + 1, blocks * C]`` view. The real spherical-harmonic basis and the Wigner 3j symbols
are e3nn's (``e3nn.o3``), so the features transform like e3nn irreps of the same names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from e3nn import o3


@dataclass(frozen=True)
class IrrepLayout:
    """An ordered list of irreps (one block each, per channel)."""

    irreps: tuple[o3.Irrep, ...]

    @property
    def dim(self) -> int:
        """Number of components per channel."""
        return sum(ir.dim for ir in self.irreps)

    def slice_of(self, ir: o3.Irrep) -> tuple[int, int]:
        """Return ``(first component, number of blocks)`` of the run of blocks equal to ``ir``."""
        positions = [index for index, block in enumerate(self.irreps) if block == ir]
        if not positions:
            return 0, 0
        if positions != list(range(positions[0], positions[-1] + 1)):
            raise ValueError(f"blocks of {ir} are not contiguous in layout {self}")
        start = sum(block.dim for block in self.irreps[: positions[0]])
        return start, len(positions)

    def component(self, block: int, m: int) -> int:
        """Return the index along ``D`` of component ``m`` of block ``block``."""
        ir = self.irreps[block]
        start, num_blocks = self.slice_of(ir)
        rank = block - self.irreps.index(ir)
        return start + m * num_blocks + rank

    def distinct(self) -> list[o3.Irrep]:
        """Return the distinct irreps in order of first appearance."""
        seen: list[o3.Irrep] = []
        for ir in self.irreps:
            if ir not in seen:
                seen.append(ir)
        return seen

    def __str__(self) -> str:
        return "+".join(str(ir) for ir in self.irreps)


def natural_irreps(l_max: int) -> list[o3.Irrep]:
    """Return ``0e, 1o, 2e, ...`` up to ``l_max`` (parity ``(-1)^l``, as for vectors and tensors)."""
    return [o3.Irrep(l, (-1) ** l) for l in range(l_max + 1)]


def natural_layout(l_max: int) -> IrrepLayout:
    """Return the layout ``0e + 1o + 2e + ...`` up to ``l_max``."""
    return IrrepLayout(tuple(natural_irreps(l_max)))


@dataclass
class Coupling:
    """Dense Clebsch-Gordan tensor of a channel-wise tensor product ``x (x) y``.

    ``tensor`` [D_x, D_y, D_out] couples one channel's components; each coupling path
    ``(l_x, l_y) -> l_out`` is its own output block, so ``layout`` may list an irrep several
    times. ``path_index`` [D_out] gives the path of each output component (for per-path
    weights).
    """

    tensor: torch.Tensor
    layout: IrrepLayout
    path_index: torch.Tensor
    num_paths: int


def build_coupling(
    layout_x: IrrepLayout, layout_y: IrrepLayout, targets: list[o3.Irrep], symmetric: bool = False
) -> Coupling:
    """Build the coupling of every block pair of ``layout_x`` and ``layout_y`` into ``targets``.

    Components are normalised as in e3nn's ``irrep_normalization="component"``: each path is
    the Wigner 3j symbol times ``sqrt(2 l_out + 1)``. With ``symmetric`` (``x = y``), the pair
    ``(b, a)`` repeats ``(a, b)`` and is skipped, and so is the antisymmetric coupling of a block
    with itself (``l_x + l_y + l_out`` odd), which vanishes within one channel.
    """
    paths = []
    for index_x, ir_x in enumerate(layout_x.irreps):
        for index_y, ir_y in enumerate(layout_y.irreps):
            if symmetric and index_y < index_x:
                continue
            for ir_out in ir_x * ir_y:
                if ir_out not in targets:
                    continue
                if symmetric and index_x == index_y and (ir_x.l + ir_y.l + ir_out.l) % 2 == 1:
                    continue
                paths.append((targets.index(ir_out), index_x, index_y, ir_out))
    paths.sort(key=lambda path: path[0])
    layout_out = IrrepLayout(tuple(path[3] for path in paths))
    tensor = torch.zeros(layout_x.dim, layout_y.dim, layout_out.dim, dtype=torch.float64)
    path_index = torch.zeros(layout_out.dim, dtype=torch.int64)
    for number, (_, index_x, index_y, ir_out) in enumerate(paths):
        ir_x = layout_x.irreps[index_x]
        ir_y = layout_y.irreps[index_y]
        symbol = o3.wigner_3j(ir_x.l, ir_y.l, ir_out.l, dtype=torch.float64) * math.sqrt(ir_out.dim)
        rows = [layout_x.component(index_x, m) for m in range(ir_x.dim)]
        columns = [layout_y.component(index_y, m) for m in range(ir_y.dim)]
        outputs = [layout_out.component(number, m) for m in range(ir_out.dim)]
        tensor[torch.tensor(rows)[:, None, None], torch.tensor(columns)[None, :, None], torch.tensor(outputs)] = symbol
        path_index[outputs] = number
    return Coupling(tensor=tensor, layout=layout_out, path_index=path_index, num_paths=len(paths))
