"""Ahead-of-time compilation of a model for fast inference (AOTInductor ``.pt2`` packages).

For small molecules an eager evaluation costs far more in Python and operator dispatch than in
arithmetic: about 330 operators in the forward pass of a 9-atom molecule. AOTInductor turns
the whole evaluation, derivatives included, into one compiled C++ function:

1. :class:`~molmtl.nn.inference_core.InferenceCore` evaluates one structure on plain tensors;
2. ``make_fx`` traces it, including ``torch.autograd.grad``, into a graph of ATen operators,
   with symbolic numbers of atoms and pairs;
3. ``torch.export`` and ``torch._inductor.aoti_compile_and_package`` compile that graph into
   a ``.pt2`` package. The package stores what the calculator needs (cutoff, elements,
   dtype, outputs) as metadata, so it loads without the original model or Python classes.

The compiled function works for any number of atoms (at least 2) and pairs. It runs only on
the device and in the dtype it was compiled for. AOTInductor also writes the number of CPU
threads of the compiling process (``torch.get_num_threads()``) into the kernels.
Compilation needs a C++ compiler and took 25 to 35 s on one idle CPU core for the default
model size. Loading a package needs neither.

NOTE: only the CPU path has been run. ``device="cuda"`` follows the same route but is untested.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from molmtl._version import __version__
from molmtl.atomic_io import atomic_path
from molmtl.nn.elements import ElementTable
from molmtl.nn.inference_core import INPUT_NAMES, InferenceCore
from molmtl.nn.model import MolMTLModel

#: Value of the ``format`` metadata entry of a molmtl package.
PACKAGE_FORMAT = "molmtl-aoti"
#: Raised when the inputs or outputs of the compiled function change incompatibly.
PACKAGE_VERSION = 1
#: Minimum numbers of atoms and pairs of a compiled function. torch.export treats the sizes 0
#: and 1 as special cases, so a function traced for larger sizes rejects them.
MIN_ATOMS = 2
MIN_PAIRS = 2


def _example_inputs(model: MolMTLModel, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Return inputs for tracing: a small random cluster of the model's elements, every pair included."""
    generator = torch.Generator().manual_seed(0)
    num_atoms = 7
    positions = torch.rand(num_atoms, 3, generator=generator, dtype=torch.float64) * 3.0
    element = torch.arange(num_atoms) % len(model.atomic_numbers)
    receiver, sender = torch.triu_indices(num_atoms, num_atoms, offset=1)
    edge_index = torch.stack([receiver, sender])
    shifts = torch.zeros(edge_index.shape[1], 3, dtype=dtype)
    return (
        positions.to(dtype).to(device),
        element.to(device),
        edge_index.to(device),
        shifts.to(device),
        torch.zeros(3, 3, dtype=dtype, device=device),
        torch.zeros(1, dtype=torch.float64, device=device),
    )


def compile_model(
    model: MolMTLModel,
    path: str | os.PathLike[str],
    dtype: torch.dtype | None = None,
    device: str | torch.device = "cpu",
    verbose: bool = True,
    inductor_configs: dict[str, Any] | None = None,
) -> Path:
    """Compile ``model`` into an AOTInductor package at ``path`` (written atomically) and return the path.

    ``model`` itself is not changed: a copy is cast and compiled. ``dtype`` defaults to the
    model's dtype; ``device`` is where the package will run. The
    compiled function is checked against the eager :class:`InferenceCore` on the tracing
    inputs before the file is written, and a mismatch larger than rounding raises
    ``RuntimeError``.

    ``inductor_configs`` are passed on to AOTInductor.
    """
    from torch.fx.experimental.proxy_tensor import make_fx

    device = torch.device(device)
    model = copy.deepcopy(model).to(device=device, dtype=dtype or model.dtype).eval()
    dtype = model.dtype
    for layer in model.encoder.layers:
        # Lets the compiler fuse each convolution into one loop over the edges (about 40 %
        # faster on a 192-atom water box than the batched matrix product).
        layer.convolution.elementwise = True
    core = InferenceCore(model)
    inputs = _example_inputs(model, dtype, device)
    started = time.perf_counter()

    def log(message: str) -> None:
        if verbose:
            print(f"[compile] {message} ({time.perf_counter() - started:.0f} s)", flush=True)

    graph = make_fx(core, tracing_mode="symbolic", _allow_non_fake_inputs=True)(*inputs)
    log(f"traced {len(graph.graph.nodes)} operators")
    atoms = torch.export.Dim("num_atoms", min=MIN_ATOMS)
    pairs = torch.export.Dim("num_pairs", min=MIN_PAIRS)
    dynamic_shapes = {
        "positions": {0: atoms},
        "element": {0: atoms},
        "edge_index": {1: pairs},
        "shifts": {0: pairs},
        "cell": None,
        "total_charge": None,
    }
    exported = torch.export.export(_Traced(graph), inputs, dynamic_shapes=dynamic_shapes)
    log("exported")
    metadata = {
        "format": PACKAGE_FORMAT,
        "format_version": str(PACKAGE_VERSION),
        "molmtl_version": __version__,
        "cutoff": repr(float(model.cutoff)),
        "atomic_numbers": json.dumps(list(model.atomic_numbers)),
        "min_distance": repr(float(model.config.min_distance)),
        "dtype": str(dtype).removeprefix("torch."),
        "device": device.type,
        "inputs": json.dumps(list(INPUT_NAMES)),
        "outputs": json.dumps(list(core.output_names)),
        "config": json.dumps(model.config.to_dict()),
    }
    target = Path(path)
    with atomic_path(target) as temporary:
        # AOTInductor wants a name ending in .pt2; the checked package then replaces the temporary file.
        package = temporary.with_suffix(".pt2")
        try:
            _package(exported, package, {**(inductor_configs or {}), "aot_inductor.metadata": metadata})
            log("compiled")
            _check_against_eager(core, CompiledModel(package), inputs)
            os.replace(package, temporary)
        finally:
            package.unlink(missing_ok=True)
    log(f"wrote {target}")
    return target


def _package(exported: torch.export.ExportedProgram, package: Path, inductor_configs: dict[str, Any]) -> None:
    """Compile ``exported`` into the package file ``package``; raise ``RuntimeError`` if AOTInductor fails."""
    try:
        torch._inductor.aoti_compile_and_package(exported, package_path=str(package), inductor_configs=inductor_configs)
    except Exception as error:  # AOTInductor raises InductorError, and C++ compiler errors as others
        raise RuntimeError(
            f"AOTInductor failed to compile the model with {torch.get_num_threads()} thread(s) "
            f"(torch {torch.__version__}): {type(error).__name__}: {str(error)[:300]}. Try "
            "'molmtl compile --threads 1'. The eager model.pt keeps working meanwhile"
        ) from error


class _Traced(torch.nn.Module):
    """Wrap a traced graph in a module whose ``forward`` names the inputs, as torch.export needs."""

    def __init__(self, graph: torch.nn.Module) -> None:
        super().__init__()
        self.traced = graph

    def forward(
        self,
        positions: torch.Tensor,
        element: torch.Tensor,
        edge_index: torch.Tensor,
        shifts: torch.Tensor,
        cell: torch.Tensor,
        total_charge: torch.Tensor,
    ) -> Any:
        return self.traced(positions, element, edge_index, shifts, cell, total_charge)


def _check_against_eager(core: InferenceCore, compiled: CompiledModel, inputs: tuple[torch.Tensor, ...]) -> None:
    """Raise ``RuntimeError`` if the compiled outputs differ from the eager ones by more than rounding."""
    expected = core(*inputs)
    found = compiled(*inputs)
    tolerance = 1e-9 if compiled.dtype == torch.float64 else 1e-3
    for name, a in zip(core.output_names, expected):
        b = found[name]
        scale = max(1.0, float(a.detach().abs().max()))
        error = float((a.detach() - b).abs().max()) / scale
        if not error <= tolerance:
            raise RuntimeError(
                f"the compiled model's {name} differs from the eager model by {error:.3g} (relative), "
                f"more than {tolerance:g}; report this with the torch version ({torch.__version__})"
            )


class CompiledModel:
    """A loaded ``.pt2`` package from :func:`compile_model`.

    Call it with the inputs of :class:`~molmtl.nn.inference_core.InferenceCore` to get a
    dict of its outputs. The attributes come from the package metadata: ``cutoff`` (Å),
    ``atomic_numbers``, ``min_distance`` (Å), ``dtype``, ``device`` and ``output_names``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no compiled model at {self.path}; create one with 'molmtl compile MODEL.pt'")
        try:
            self._runner = torch._inductor.aoti_load_package(str(self.path))
            metadata = dict(self._runner.get_metadata())
        except Exception as error:  # torch raises RuntimeError or a zipfile error here
            raise ValueError(f"{self.path} is not a loadable AOTInductor package: {error}") from error
        if metadata.get("format") != PACKAGE_FORMAT:
            raise ValueError(f"{self.path} is not a molmtl compiled model (no format={PACKAGE_FORMAT!r} metadata)")
        version = int(metadata.get("format_version", "0"))
        if version != PACKAGE_VERSION:
            raise ValueError(
                f"{self.path} is a compiled model of package version {version} (molmtl "
                f"{metadata.get('molmtl_version', 'unknown')}); this molmtl {__version__} reads version "
                f"{PACKAGE_VERSION}; compile the model.pt again with this version"
            )
        self.metadata = metadata
        self.cutoff = float(metadata["cutoff"])
        self.atomic_numbers: list[int] = json.loads(metadata["atomic_numbers"])
        self.min_distance = float(metadata["min_distance"])
        self.dtype: torch.dtype = getattr(torch, metadata["dtype"])
        self.device = torch.device(metadata["device"])
        self.output_names: tuple[str, ...] = tuple(json.loads(metadata["outputs"]))
        # The model's own lookup, so that unknown elements get the same message as in eager mode.
        self._elements = ElementTable(self.atomic_numbers)

    def element_indices(self, numbers: np.ndarray) -> torch.Tensor:
        """Map atomic numbers [N] to element indices [N]; raise ``ValueError`` naming unsupported elements."""
        return self._elements(torch.as_tensor(np.asarray(numbers), dtype=torch.int64))

    def __call__(self, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Evaluate the compiled function; see :class:`~molmtl.nn.inference_core.InferenceCore`.

        Inputs are made contiguous first: the compiled code assumes the strides it was traced
        with and would read a strided view (such as a transposed edge list) wrongly.
        """
        # The loader's flat entry point skips the pytree handling of the generic wrapper,
        # which cost about a tenth of a small molecule's step.
        outputs = self._runner.loader.boxed_run([tensor.contiguous() for tensor in inputs])
        return dict(zip(self.output_names, outputs))
