"""Train the three codes on one benchmark split and record where their models lie.

The manifest ``.bench/models/<name>/manifest.json`` lists, for every code, the model file
of each inference variant (see :func:`worker_md.build_calculator`), the training seconds and
epochs. The accuracy benchmark writes it; the MD-speed and scaling benchmarks reuse it, or
train small models themselves when it is missing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from common import WORK_ROOT
from molmtl_side import train_molmtl
from peers import TrainResult, compile_nequip, dump, train_mace, train_nequip
from systems import prepare_split

#: Inference variants measured for each code; the first is the one used for accuracy.
VARIANTS = {
    "molmtl": ("float64", "float32", "aot-float64", "aot-float32"),
    "mace": ("float64", "float32"),
    "nequip": ("eager", "aotinductor"),
}


def split_for(dataset: str, quick: bool) -> dict:
    """Prepare (or reuse) the split of ``dataset``; quick runs keep 100 training structures."""
    folder = WORK_ROOT / ("splits_quick" if quick else "splits") / dataset
    manifest_path = folder / "split.json"
    if manifest_path.exists():
        return json.loads(manifest_path.read_text())
    return prepare_split(dataset, folder, num_train=100 if quick else None)


def train_code(code: str, split: dict, work_dir: Path, budget: float, threads: int, options: dict) -> TrainResult:
    """Train ``code`` on ``split`` for ``budget`` seconds."""
    batch_size = options.get("batch_size", 5)
    if code == "molmtl":
        return train_molmtl(
            split, work_dir, budget, batch_size=batch_size, dtype=options.get("molmtl_dtype", "float64"),
            threads=threads, e0=options.get("molmtl_e0", "isolated"),
        )
    if code == "mace":
        return train_mace(split, work_dir, budget, batch_size=batch_size, dtype=options.get("mace_dtype", "float32"), threads=threads)
    if code == "nequip":
        return train_nequip(split, work_dir, budget, batch_size=batch_size, threads=threads, aotinductor=False)
    raise ValueError(f"unknown code {code!r}")


def variant_paths(result: TrainResult) -> dict[str, str]:
    """Return the model file of each inference variant of a trained model."""
    if result.code == "nequip":
        paths = {"eager": str(result.model_path)}
        paths.update({name: str(path) for name, path in result.extra_models.items()})
        return paths
    # Compiled variants (molmtl's aot-*) get their files from ensure_molmtl_aot.
    return {variant: str(result.model_path) for variant in VARIANTS[result.code] if not variant.startswith("aot-")}


def manifest_path(name: str) -> Path:
    """Return the manifest path of the model set ``name`` (e.g. ``ethanol`` or ``ethanol_quick``)."""
    return WORK_ROOT / "models" / name / "manifest.json"


def write_manifest(name: str, dataset: str, results: dict[str, TrainResult], budget: float) -> dict:
    """Write and return the manifest of a freshly trained model set."""
    manifest = {
        "dataset": dataset,
        "budget_seconds": budget,
        "codes": {code: {**dump(result), "variants": variant_paths(result)} for code, result in results.items()},
    }
    path = manifest_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2))
    return manifest


def load_or_train(name: str, dataset: str, codes: Sequence[str], budget: float, threads: int, quick: bool) -> dict:
    """Return the manifest ``name``, training the codes it lacks for ``budget`` seconds."""
    path = manifest_path(name)
    manifest = json.loads(path.read_text()) if path.exists() else {"dataset": dataset, "budget_seconds": budget, "codes": {}}
    if "molmtl" in manifest["codes"] and not _molmtl_model_loads(manifest["codes"]["molmtl"]["model_path"]):
        del manifest["codes"]["molmtl"]
    missing = [code for code in codes if code not in manifest["codes"]]
    if missing:
        split = split_for(dataset, quick)
        for code in missing:
            print(f"[bench] training {code} on {dataset} for {budget:.0f} s (model set {name})", flush=True)
            result = train_code(code, split, path.parent / code, budget, threads, {})
            manifest["codes"][code] = {**dump(result), "variants": variant_paths(result)}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest, indent=2))
    return manifest


def _molmtl_model_loads(path: str) -> bool:
    """Return whether the installed molmtl still reads the model file ``path``."""
    from molmtl import load_model

    try:
        load_model(path)
    except (RuntimeError, ValueError, KeyError, FileNotFoundError) as error:
        print(f"[bench] {path} no longer loads ({str(error)[:200]}); training it again", flush=True)
        return False
    return True


def ensure_nequip_aotinductor(manifest_name: str, threads: int) -> None:
    """Compile the NequIP checkpoint of a model set with AOTInductor once and record it."""
    path = manifest_path(manifest_name)
    manifest = json.loads(path.read_text())
    entry = manifest["codes"].get("nequip")
    if entry is None or "aotinductor" in entry["variants"]:
        return
    print(f"[bench] compiling NequIP ({manifest_name}) with AOTInductor; this takes minutes", flush=True)
    entry["variants"]["aotinductor"] = str(compile_nequip(Path(entry["variants"]["eager"]), threads))
    path.write_text(json.dumps(manifest, indent=2))


def ensure_molmtl_aot(manifest_name: str, threads: int) -> None:
    """Compile the molmtl model of a model set with AOTInductor (``molmtl compile``) once per dtype and record it."""
    import torch

    from molmtl import load_model
    from molmtl.nn.aot import compile_model

    path = manifest_path(manifest_name)
    manifest = json.loads(path.read_text())
    entry = manifest["codes"].get("molmtl")
    if entry is None:
        return
    torch.set_num_threads(threads)
    source = Path(entry["model_path"])
    for variant in (name for name in VARIANTS["molmtl"] if name.startswith("aot-")):
        target = source.with_name(f"model_{variant}.pt2")
        if variant in entry["variants"] and target.exists():
            continue
        dtype = getattr(torch, variant.removeprefix("aot-"))
        print(f"[bench] compiling molmtl ({manifest_name}, {variant}) with AOTInductor", flush=True)
        compile_model(load_model(source), target, dtype=dtype)
        entry["variants"][variant] = str(target)
    path.write_text(json.dumps(manifest, indent=2))
