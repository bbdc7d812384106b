"""Set up and run a molecular training run from a resolved configuration (``molmtl train``)."""

from __future__ import annotations

import json
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from molmtl.atomic_io import atomic_write_text
from molmtl.data import keys
from molmtl.training import distributed
from molmtl.training.checkpoint import CHECKPOINT_NAME, seed_everything
from molmtl.training.config import TrainerConfig
from molmtl.training.molecular.config import AUTO_TASKS, DEFAULTS, ConfigError, dump_config
from molmtl.training.molecular.problem import MolecularProblem
from molmtl.training.molecular.tasks import TASKS, MolecularTask
from molmtl.training.trainer import MODEL_NAME, Trainer

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.yaml"
DTYPES = {"float64": torch.float64, "float32": torch.float32}

#: Largest file (in atoms) whose graphs ``data.cache: auto`` keeps in memory. Cached graphs
#: of the embedded dataset take 0.55 kB per atom, with about 13 neighbours within 5 Å. The
#: edge tensors grow with the neighbour count, so a dense liquid needs roughly 2 kB per atom
#: (an estimate), which bounds this cache near 2 GB.
CACHE_MAX_ATOMS = 1_000_000


class MissingLabelsError(ValueError):
    """A task with a positive weight has no labels in the training set."""


@dataclass
class MolecularRun:
    """Everything a run needs: the resolved config, datasets, model, problem and trainer."""

    config: dict[str, Any]
    run_dir: Path
    train_set: Any
    valid_set: Any
    model: Any
    problem: MolecularProblem
    trainer: Trainer


def _use_cache(setting: str | bool, dataset: Any) -> bool:
    """Return whether ``dataset`` keeps its graphs in memory under the ``data.cache`` setting."""
    if setting == "auto":
        return int(dataset.atom_counts().sum()) <= CACHE_MAX_ATOMS
    return bool(setting)


def load_datasets(config: dict[str, Any]):
    """Return ``(train_set, valid_set)``; without a validation file, split the training file."""
    from molmtl.data.dataset import H5Dataset
    from molmtl.data.splits import random_split, split_by_config_type, split_by_molecule

    data = config["data"]
    if not data["train"]:
        raise ConfigError("no training data: set data.train in the config or pass --data FILE.h5")
    cutoff = float(config["model"]["cutoff"])
    dtype = DTYPES[config["dtype"]]
    full = H5Dataset(data["train"], cutoff=cutoff, dtype=dtype)
    if _use_cache(data["cache"], full):
        full.cache = {}
    if data["valid"]:
        valid = H5Dataset(data["valid"], cutoff=cutoff, dtype=dtype)
        if _use_cache(data["cache"], valid):
            valid.cache = {}
        return full, valid
    fraction = float(data["valid_fraction"])
    if fraction == 0:
        return full, None
    fractions = {"train": 1.0 - fraction, "valid": fraction}
    if data["split"] == "molecule":
        split = split_by_molecule(data["train"], fractions, seed=data["split_seed"])
    elif data["split"] == "config_type":
        split = split_by_config_type(data["train"], fractions=fractions, seed=data["split_seed"])
    else:
        split = random_split(len(full), fractions, seed=data["split_seed"])
    if len(split["train"]) == 0:
        raise ConfigError(
            f"the {data['split']} split of {data['train']} left no training structures; lower "
            "data.valid_fraction"
        )
    return full.subset(split["train"]), full.subset(split["valid"]) if len(split["valid"]) else None


def resolve_auto_tasks(config: dict[str, Any], train_set: Any) -> dict[str, Any]:
    """Replace ``tasks: auto`` by the default tasks whose labels ``train_set`` has."""
    if config["tasks"] != AUTO_TASKS:
        return config
    counts = train_set.label_counts()
    tasks = {
        name: dict(options)
        for name, options in DEFAULTS["tasks"].items()
        if counts.get(TASKS[name].label_key, 0) > 0
    }
    if not any(float(options["weight"]) > 0 for options in tasks.values()):
        raise MissingLabelsError(
            f"the training set {config['data']['train']} has no label that a task trains on "
            f"(labels found: {_labels_found(counts)}); convert it again with the label keys of the source "
            "file"
        )
    config["tasks"] = tasks
    logger.info(
        "tasks from the labels of the training set: %s",
        ", ".join(f"{name} (weight {options['weight']})" for name, options in tasks.items()),
    )
    return config


def _labels_found(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} ({count} structures)" for name, count in counts.items() if count > 0) or "none"


def check_task_labels(config: dict[str, Any], train_set: Any) -> dict[str, int]:
    """Raise :class:`MissingLabelsError` if a task with weight > 0 has no label in ``train_set``."""
    counts = train_set.label_counts()
    found_text = _labels_found(counts)
    for name, options in config["tasks"].items():
        label = TASKS[name].label_key
        if float(options["weight"]) > 0 and counts.get(label, 0) == 0:
            raise MissingLabelsError(
                f"task {name!r} has weight {options['weight']} but no structure of the training set "
                f"{config['data']['train']} has the label {label!r}. Labels found: {found_text}. "
                f"If the file stores it under another name, convert again with the right key "
                f"(molmtl convert --{label}-key NAME), or drop the task (--tasks) or set its weight to 0."
            )
    return counts


def resolve_statistics(config: dict[str, Any], train_set: Any) -> dict[str, Any]:
    """Fill ``model.atomic_numbers`` and the data statistics (E0, energy scale and shift, neighbours).

    Values already given as numbers are kept, so a resumed run reuses the first run's values.
    """
    from molmtl.data.reader import H5Reader
    from molmtl.data.statistics import average_num_neighbors, fit_e0, label_statistics

    model = config["model"]
    statistics = config["statistics"]
    path = train_set.path
    indices = train_set.indices
    if not model["atomic_numbers"]:
        # Elements of the whole training file (the validation split included) and of the validation file.
        numbers = set(train_set.reader.elements())
        if config["data"]["valid"]:
            numbers.update(H5Reader(config["data"]["valid"]).elements())
        model["atomic_numbers"] = sorted(int(z) for z in numbers)

    has_energy = train_set.label_counts().get(keys.ENERGY, 0) > 0
    e0 = statistics["e0"]
    if e0 == "fit":
        if has_energy:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                e0 = fit_e0(path, indices)
            for warning in caught:
                logger.warning("E0 fit: %s", warning.message)
        else:
            e0 = {}
    elif e0 in (None, "none"):
        e0 = {}
    elif not isinstance(e0, dict):
        raise ConfigError(f"statistics.e0 must be 'fit', 'none' or a mapping atomic number -> eV, got {e0!r}")
    e0 = {int(z): float(value) for z, value in e0.items() if int(z) in model["atomic_numbers"]}
    statistics["e0"] = e0

    needs_labels = any(isinstance(statistics[name], str) for name in ("energy_scale", "energy_shift"))
    values = label_statistics(path, e0, indices) if needs_labels else {}
    scale = statistics["energy_scale"]
    if isinstance(scale, str):
        candidates = {
            "forces_rms": ["forces_rms", "energy_per_atom_rms"],
            "energy_rms": ["energy_per_atom_rms", "forces_rms"],
        }
        if scale not in candidates:
            raise ConfigError(
                f"statistics.energy_scale must be 'forces_rms', 'energy_rms' or a number in eV, got {scale!r}"
            )
        usable = [
            float(values[name])
            for name in candidates[scale]
            if math.isfinite(values[name]) and values[name] > 0
        ]
        scale = usable[0] if usable else 1.0
    statistics["energy_scale"] = float(scale)
    shift = statistics["energy_shift"]
    if isinstance(shift, str):
        if shift not in ("mean", "none"):
            raise ConfigError(
                f"statistics.energy_shift must be 'mean', 'none' or a number in eV/atom, got {shift!r}"
            )
        mean = values.get("energy_per_atom_mean", float("nan"))
        shift = float(mean) if shift == "mean" and math.isfinite(mean) else 0.0
    statistics["energy_shift"] = float(shift)
    neighbours = statistics["avg_num_neighbors"]
    if neighbours == "auto":
        neighbours = average_num_neighbors(
            path,
            float(model["cutoff"]),
            indices,
            max_structures=int(statistics["neighbors_sample"]),
            seed=config["seed"],
        )
        neighbours = max(float(neighbours), 1.0)
    statistics["avg_num_neighbors"] = float(neighbours)
    return config


def default_heads(tasks: dict[str, Any]) -> list[str]:
    """Return the model heads the tasks need."""
    heads = []
    if {"energy", "forces", "stress"} & set(tasks):
        heads.append("energy")
    if {"charges", "dipole"} & set(tasks):
        heads.append("charges")
    if "dipole" in tasks:
        heads.append("dipole")
    return heads


def build_model(config: dict[str, Any]):
    """Build a :class:`~molmtl.nn.model.MolMTLModel` from the resolved config."""
    from molmtl.nn.config import ModelConfig
    from molmtl.nn.model import MolMTLModel

    model = dict(config["model"])
    statistics = config["statistics"]
    heads = model.pop("heads") or default_heads(config["tasks"])
    model_config = ModelConfig(
        **model,
        heads=heads,
        dtype=config["dtype"],
        e0s=statistics["e0"],
        energy_scale=statistics["energy_scale"],
        energy_shift=statistics["energy_shift"],
        avg_num_neighbors=statistics["avg_num_neighbors"],
    )
    return MolMTLModel(model_config)


def build_tasks(config: dict[str, Any]) -> list[MolecularTask]:
    """Return one task object per configured task, in the order of :data:`TASKS`."""
    tasks = []
    for name, task_class in TASKS.items():
        if name in config["tasks"]:
            options = config["tasks"][name]
            tasks.append(
                task_class(name, float(options["weight"]), options["loss"], float(options["huber_delta"]))
            )
    return tasks


def prepare_run(config: dict[str, Any], resume: bool = False) -> MolecularRun:
    """Resolve statistics, build the model and trainer, and write the resolved config (rank 0)."""
    run_dir = Path(config["out"])
    if not resume and (run_dir / CHECKPOINT_NAME).exists():
        raise FileExistsError(
            f"{run_dir} already contains a training run (checkpoint.pt); continue it with --resume "
            f"{run_dir} or pass a new --out"
        )

    seed_everything(int(config["seed"]))
    train_set, valid_set = load_datasets(config)
    config = resolve_auto_tasks(config, train_set)
    check_task_labels(config, train_set)
    if valid_set is not None:
        valid_counts = valid_set.label_counts()
        for name in config["tasks"]:
            if valid_counts.get(TASKS[name].label_key, 0) == 0 and distributed.is_main_process():
                logger.warning(
                    "the validation set has no %r labels; its validation metrics will be NaN", name
                )
    config = resolve_statistics(config, train_set)

    torch.manual_seed(int(config["seed"]))
    model = build_model(config)
    problem = MolecularProblem(build_tasks(config))
    trainer_config = TrainerConfig(
        **config["training"],
        seed=int(config["seed"]),
        device=config["device"],
        weighting_options=dict(config["weighting_options"] or {}),
    )
    trainer = Trainer(
        model,
        problem,
        train_set,
        valid_set,
        config=trainer_config,
        weighting=config["weighting"],
        run_dir=run_dir,
    )

    if distributed.is_main_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(dump_config(config), run_dir / CONFIG_NAME)
    return MolecularRun(config, run_dir, train_set, valid_set, model, problem, trainer)


def train(config: dict[str, Any], resume: bool = False) -> MolecularRun:
    """Train, then (rank 0) evaluate ``model.pt`` on the validation set and write parity plots.

    A fresh run first evaluates the untrained model on the validation set
    (``valid_errors_initial.json``), so that the final table (``valid_errors.json``) can be
    read as an improvement factor.
    """
    from molmtl.training.molecular.evaluation import format_error_table, predict_dataset, write_parity_plots

    run = prepare_run(config, resume=resume)
    evaluate_here = distributed.is_main_process() and run.valid_set is not None
    batch_size = run.trainer.config.valid_batch_size or run.trainer.config.batch_size
    if evaluate_here and not resume:
        initial = predict_dataset(
            run.model, run.valid_set, batch_size=batch_size, device=run.trainer.device
        ).errors()
        atomic_write_text(json.dumps(initial, indent=2) + "\n", run.run_dir / "valid_errors_initial.json")
        run.model.train()
    distributed.barrier()
    run.trainer.fit(resume=resume)
    if evaluate_here and (run.run_dir / MODEL_NAME).is_file():
        from molmtl.nn.serialization import load_model

        best = load_model(run.run_dir / MODEL_NAME, device=run.trainer.device)
        predictions = predict_dataset(best, run.valid_set, batch_size=batch_size, device=run.trainer.device)
        table = predictions.errors()
        atomic_write_text(json.dumps(table, indent=2) + "\n", run.run_dir / "valid_errors.json")
        if run.trainer.config.plots:
            write_parity_plots(predictions, run.run_dir / "plots")
        logger.info("validation errors of %s:\n%s", run.run_dir / MODEL_NAME, format_error_table(table))
        initial_path = run.run_dir / "valid_errors_initial.json"
        if initial_path.is_file():
            initial = json.loads(initial_path.read_text())
            logger.info("improvement over the untrained model:\n%s", format_improvement_table(initial, table))
    return run


def format_improvement_table(initial: dict[str, Any], final: dict[str, Any]) -> str:
    """Return the MAE before and after training and their ratio for each quantity in both tables."""
    lines = [f"{'quantity':<18} {'unit':<15} {'MAE untrained':>14} {'MAE trained':>12} {'ratio':>8}"]
    for name, row in final.items():
        if name not in initial:
            continue
        before, after = initial[name]["mae"], row["mae"]
        ratio = before / after if after > 0 else math.inf
        lines.append(f"{name:<18} {row['unit']:<15} {before:>14.4g} {after:>12.4g} {ratio:>8.3g}")
    return "\n".join(lines)


__all__ = [
    "CONFIG_NAME",
    "MissingLabelsError",
    "MolecularRun",
    "build_model",
    "build_tasks",
    "check_task_labels",
    "load_datasets",
    "prepare_run",
    "resolve_statistics",
    "train",
]
