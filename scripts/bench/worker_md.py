"""Time velocity Verlet MD through one code's ASE calculator, in a fresh process.

Run with the Python of the code under test (molmtl's ``.venv`` or a ``.venv-peers`` one);
it imports only that code, ASE and numpy. The last line of output is
``BENCH_RESULT {"results": [...]}`` with, for every system, steps per second and memory:

* ``peak_rss_mib``: peak resident memory of the whole process (ru_maxrss);
* ``model_rss_mib``: resident memory after the calculator was built, before the first call;
* ``peak_increase_mib``: the difference, i.e. what the force calls themselves needed.

Example::

    .venv-peers/mace/bin/python scripts/bench/worker_md.py --code mace \
        --model runs/mace.model --variant float32 --system ethanol water192 --steps 200 20
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from systems import benchmark_system  # noqa: E402


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_calculator(code: str, model: str, variant: str):
    """Return the ASE calculator of ``code`` for the model file ``model``.

    ``variant`` selects the configuration: for molmtl ``aot-float32`` or ``aot-float64`` (a
    ``.pt2`` package from ``molmtl compile``), and for molmtl and MACE ``float32`` or ``float64``,
    optionally with ``-compile`` (molmtl's ``compile_encoder()``, MACE's torch.compile
    mode; both compile for minutes on the first call); for NequIP ``aotinductor`` (a
    ``.nequip.pt2`` file from ``nequip-compile --mode aotinductor --target ase``) or ``eager``
    (a training checkpoint, run uncompiled in the model's training dtype).
    """
    if code == "molmtl":
        import torch

        from molmtl import MolMTLCalculator

        if variant.startswith("aot-"):
            # A .pt2 package from molmtl compile; it runs in the dtype it was compiled for.
            return MolMTLCalculator(model)
        dtype_name, _, compiled = variant.partition("-")
        calculator = MolMTLCalculator(model, dtype={"float32": torch.float32, "float64": torch.float64}[dtype_name])
        if compiled == "compile":
            calculator.model.compile_encoder()
        return calculator
    if code == "mace":
        from mace.calculators import MACECalculator

        dtype, _, compiled = variant.partition("-")
        options = {"compile_mode": "default"} if compiled == "compile" else {}
        return MACECalculator(model_paths=model, device="cpu", default_dtype=dtype, **options)
    if code == "nequip":
        from nequip.integrations.ase import NequIPCalculator

        if variant == "eager":
            # NOTE: nequip 0.19 loads an uncompiled checkpoint only through this private
            # class method; its public from_compiled_model needs an AOTInductor file.
            return NequIPCalculator._from_saved_model(model, device="cpu")
        return NequIPCalculator.from_compiled_model(model, device="cpu")
    raise ValueError(f"unknown code {code!r}; expected molmtl, mace or nequip")


def run_md(args: argparse.Namespace) -> list[dict[str, object]]:
    """Time ``args.steps`` velocity Verlet steps on each system, after warm-up steps.

    The calculator is built once. Systems run in increasing size, because ru_maxrss never
    decreases: the peak read after each system then belongs to that system.
    """
    import torch

    torch.set_num_threads(args.threads)
    systems = [benchmark_system(name) for name in args.system]
    steps = args.steps if len(args.steps) == len(systems) else args.steps[:1] * len(systems)
    order = sorted(range(len(systems)), key=lambda index: len(systems[index]))
    started = time.perf_counter()
    calculator = build_calculator(args.code, args.model, args.variant)
    load_seconds = time.perf_counter() - started
    model_rss = _rss_mib()
    results = []
    for index in order:
        result = _run_system(systems[index], calculator, steps[index], args)
        result.update({"system": args.system[index], "load_seconds": load_seconds, "model_rss_mib": model_rss})
        result["peak_increase_mib"] = result["peak_rss_mib"] - model_rss
        results.append(result)
    return results


def _run_system(atoms, calculator, steps: int, args: argparse.Namespace) -> dict[str, object]:
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet

    atoms.calc = calculator
    MaxwellBoltzmannDistribution(atoms, temperature_K=args.temperature, rng=np.random.default_rng(0))
    dynamics = VelocityVerlet(atoms, timestep=args.timestep * units.fs)
    started = time.perf_counter()
    dynamics.run(args.warmup)
    warmup_seconds = time.perf_counter() - started
    start_positions = atoms.positions.copy()

    started = time.perf_counter()
    dynamics.run(steps)
    elapsed = time.perf_counter() - started
    return {
        "code": args.code,
        "variant": args.variant,
        "num_atoms": len(atoms),
        "steps": steps,
        "warmup_steps": args.warmup,
        "threads": args.threads,
        "seconds": elapsed,
        "steps_per_second": steps / elapsed,
        "ms_per_step": 1000.0 * elapsed / steps,
        "warmup_seconds": warmup_seconds,
        "peak_rss_mib": _peak_rss_mib(),
        "max_displacement_angstrom": float(np.linalg.norm(atoms.positions - start_positions, axis=1).max()),
        "final_energy_ev": float(atoms.get_potential_energy()),
        "finite": bool(np.isfinite(atoms.get_forces()).all()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", required=True, choices=["molmtl", "mace", "nequip"])
    parser.add_argument("--model", required=True, help="model file of that code")
    parser.add_argument("--variant", default="float64", help="float32, float64, float32-compile, torchscript, aotinductor")
    parser.add_argument("--system", required=True, nargs="+", help="ethanol, 3bpa or water<N> (N atoms)")
    parser.add_argument("--steps", type=int, nargs="+", default=[100], help="timed MD steps, one value or one per system")
    parser.add_argument("--warmup", type=int, default=5, help="untimed MD steps before timing")
    parser.add_argument("--timestep", type=float, default=0.5, help="time step in fs")
    parser.add_argument("--temperature", type=float, default=300.0, help="initial temperature in K")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args()
    print("BENCH_RESULT " + json.dumps({"results": run_md(args)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
