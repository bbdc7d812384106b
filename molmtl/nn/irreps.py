"""Channel-major irrep layouts and the Clebsch-Gordan tensors of channel-wise tensor products.

Node and edge features are stored as ``[N, C, D]``: ``C`` channels, each holding the same
list of irreps (a *layout*) whose ``2l + 1`` components are concatenated into ``D``. The
real spherical-harmonic basis and the Wigner 3j symbols are e3nn's (``e3nn.o3``), so the
features transform like e3nn irreps of the same names. Blocks of the same irrep are kept
next to each other, so that an equivariant linear layer reads each irrep as one slice.
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

    def offsets(self) -> list[int]:
        """Return the first component of each block."""
        starts = []
        offset = 0
        for ir in self.irreps:
            starts.append(offset)
            offset += ir.dim
        return starts

    def slice_of(self, ir: o3.Irrep) -> tuple[int, int]:
        """Return ``(start, number of blocks)`` of the contiguous run of blocks equal to ``ir``."""
        positions = [index for index, block in enumerate(self.irreps) if block == ir]
        if not positions:
            return 0, 0
        if positions != list(range(positions[0], positions[-1] + 1)):
            raise ValueError(f"blocks of {ir} are not contiguous in layout {self}")
        return self.offsets()[positions[0]], len(positions)

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

    ``tensor`` [D_x * D_y, D_out] maps the flattened outer product of one channel's
    components to the output components; each coupling path ``(l_x, l_y) -> l_out`` is its own
    output block, so ``layout`` may list an irrep several times. ``path_index`` [D_out] gives
    the path of each output component (for per-path weights).
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
    offsets_x = layout_x.offsets()
    offsets_y = layout_y.offsets()
    out_irreps = tuple(path[3] for path in paths)
    dim_out = sum(ir.dim for ir in out_irreps)
    tensor = torch.zeros(layout_x.dim, layout_y.dim, dim_out, dtype=torch.float64)
    path_index = []
    offset_out = 0
    for number, (_, index_x, index_y, ir_out) in enumerate(paths):
        ir_x = layout_x.irreps[index_x]
        ir_y = layout_y.irreps[index_y]
        symbol = o3.wigner_3j(ir_x.l, ir_y.l, ir_out.l, dtype=torch.float64) * math.sqrt(ir_out.dim)
        start_x = offsets_x[index_x]
        start_y = offsets_y[index_y]
        tensor[start_x : start_x + ir_x.dim, start_y : start_y + ir_y.dim, offset_out : offset_out + ir_out.dim] = symbol
        path_index.extend([number] * ir_out.dim)
        offset_out += ir_out.dim
    return Coupling(
        tensor=tensor.reshape(layout_x.dim * layout_y.dim, dim_out),
        layout=IrrepLayout(out_irreps),
        path_index=torch.tensor(path_index, dtype=torch.int64),
        num_paths=len(paths),
    )
