"""The YAML run configuration of ``molmtl train``: defaults, validation and command-line overrides.

Example (every section is optional except ``data.train``)::

    data:
      train: train.h5
      valid: valid.h5          # or leave out and set valid_fraction
    model:
      num_channels: 32
      l_max: 1
      num_layers: 2
    tasks:
      energy: {weight: 1.0}
      forces: {weight: 10.0, loss: huber, huber_delta: 0.01}
      dipole: 1.0              # a number is a weight
                               # (without a tasks section: every task whose label the data has)
    weighting: fixed           # fixed, uncertainty or gradnorm
    training:
      max_epochs: 100
      max_minutes: 60
      lr: 0.001
    out: runs/example

An unknown or misspelt key raises :class:`ConfigError` with the closest valid key.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from molmtl.training.molecular.tasks import TASKS

DEFAULTS: dict[str, Any] = {
    "data": {
        "train": None,
        "valid": None,
        "valid_fraction": 0.1,
        "split": "random",
        "split_seed": 0,
        # Keep built graphs in memory after the first epoch: "auto" does so for files of at
        # most CACHE_MAX_ATOMS atoms, true or false force it.
        "cache": "auto",
    },
    "model": {
        "atomic_numbers": None,
        "cutoff": 5.0,
        "num_channels": 32,
        "l_max": 1,
        "num_layers": 2,
        "num_radial_basis": 8,
        "envelope_exponent": 6,
        "correlation_order": 3,
        "radial_mlp": [64, 64],
        "readout_hidden": 16,
        "heads": None,
        "min_distance": 0.1,
    },
    "statistics": {
        "e0": "fit",
        "energy_scale": "forces_rms",
        "energy_shift": "mean",
        "avg_num_neighbors": "auto",
        "neighbors_sample": 1000,
    },
    "tasks": {
        "energy": {"weight": 1.0, "loss": "mse", "huber_delta": 0.01},
        "forces": {"weight": 10.0, "loss": "mse", "huber_delta": 0.01},
        "dipole": {"weight": 1.0, "loss": "mse", "huber_delta": 0.01},
        "charges": {"weight": 0.0, "loss": "mse", "huber_delta": 0.01},
        "stress": {"weight": 1.0, "loss": "mse", "huber_delta": 0.01},
    },
    "weighting": "fixed",
    "weighting_options": {},
    "training": {
        "max_epochs": 100,
        "max_minutes": None,
        "batch_size": 8,
        "valid_batch_size": None,
        "optimizer": "adam",
        "lr": 0.001,
        "weight_decay": 0.0,
        "amsgrad": False,
        "schedule": "plateau",
        "warmup_epochs": 1.0,
        "min_lr_factor": 0.01,
        "plateau_factor": 0.5,
        "plateau_patience": 5,
        "clip_grad_norm": 10.0,
        "ema_decay": 0.99,
        "early_stopping_patience": None,
        "early_stopping_min_delta": 0.0,
        "num_workers": 0,
        "conflict_batches": 2,
        "progress": True,
        "tensorboard": True,
        "plots": True,
    },
    "out": "runs/molmtl",
    "seed": 0,
    "dtype": "float64",
    "device": None,
}

#: Value of ``tasks`` when neither the file nor ``--tasks`` lists them: every task in
#: ``DEFAULTS["tasks"]`` whose label the training set has, with its default options.
AUTO_TASKS = "auto"

#: Options of each weighting strategy (``weighting_options``).
WEIGHTING_OPTIONS = {
    "fixed": set(),
    "uncertainty": {"initial_log_variance"},
    "gradnorm": {"alpha", "learning_rate", "min_weight"},
}
TASK_OPTIONS = ("weight", "loss", "huber_delta")
CHOICES = {
    ("data", "split"): ("random", "molecule", "config_type"),
    ("weighting",): tuple(WEIGHTING_OPTIONS),
    ("dtype",): ("float64", "float32"),
    ("data", "cache"): ("auto", True, False),
    ("training", "optimizer"): ("adam", "adamw"),
    ("training", "schedule"): ("plateau", "cosine", "constant"),
}


class ConfigError(ValueError):
    """An invalid run configuration (unknown key, wrong type or value)."""


#: Names that users bring from other codes, mapped to ours (used only for suggestions).
ALIASES = {
    "learning_rate": "lr",
    "epochs": "max_epochs",
    "num_epochs": "max_epochs",
    "max_time": "max_minutes",
    "r_max": "cutoff",
    "scheduler": "schedule",
    "ema": "ema_decay",
    "patience": "early_stopping_patience",
    "clip_grad": "clip_grad_norm",
    "train_file": "train",
    "valid_file": "valid",
    "loss_weights": "tasks",
}


def _suggest(key: str, valid: list[str]) -> str:
    candidates = {name: name for name in valid}
    candidates.update(
        {alias: target for alias, target in ALIASES.items() if target in valid and alias not in candidates}
    )
    close = difflib.get_close_matches(key.lower(), list(candidates), n=1, cutoff=0.6)
    match = [candidates[close[0]]] if close else []
    hint = f"; did you mean {match[0]!r}?" if match else "."
    return f"{hint} Valid keys: {', '.join(sorted(valid))}"


def _merge(defaults: Any, values: Any, path: tuple[str, ...]) -> Any:
    if not isinstance(defaults, dict) or path in (("weighting_options",),):
        return copy.deepcopy(values)
    if values is None:
        return copy.deepcopy(defaults)
    if not isinstance(values, Mapping):
        raise ConfigError(
            f"{'.'.join(path) or 'the config'} must be a mapping of keys to values, got {values!r}"
        )
    merged = copy.deepcopy(defaults)
    for key, value in values.items():
        key = str(key)
        if path == ("statistics",) and key == "e0" and isinstance(value, Mapping):
            merged[key] = {int(z): float(energy) for z, energy in value.items()}
            continue
        if key not in defaults:
            where = f"section {'.'.join(path)!r}" if path else "the top level"
            raise ConfigError(f"unknown key {key!r} in {where}{_suggest(key, list(defaults))}")
        merged[key] = _merge(defaults[key], value, (*path, key))
    return merged


def _normalise_tasks(tasks: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    result = {}
    for name, value in tasks.items():
        if name not in TASKS:
            raise ConfigError(f"unknown task {name!r}{_suggest(name, list(TASKS))}")
        base = copy.deepcopy(DEFAULTS["tasks"][name])
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            base["weight"] = float(value)
        elif isinstance(value, Mapping):
            for key, option in value.items():
                if key not in TASK_OPTIONS:
                    raise ConfigError(
                        f"unknown key {key!r} in task {name!r}{_suggest(key, list(TASK_OPTIONS))}"
                    )
                base[key] = option
        elif value is not None:
            raise ConfigError(
                f"task {name!r} must be a weight or a mapping with {', '.join(TASK_OPTIONS)}, got {value!r}"
            )
        if float(base["weight"]) < 0:
            raise ConfigError(
                f"task {name!r} has a negative weight {base['weight']}; use 0 to monitor it without "
                "training on it"
            )
        if base["loss"] not in ("mse", "huber"):
            raise ConfigError(f"task {name!r} has loss {base['loss']!r}; use 'mse' or 'huber'")
        result[name] = base
    return result


def build_config(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge ``values`` (the parsed YAML) into the defaults and validate the result."""
    values = dict(values or {})
    tasks = values.pop("tasks", None)
    config = _merge(DEFAULTS, values, ())
    if tasks is not None:
        if not isinstance(tasks, Mapping):
            raise ConfigError(f"tasks must be a mapping of task names to weights or options, got {tasks!r}")
        # Tasks listed in the file replace the default list: the ones left out are not trained or evaluated.
        config["tasks"] = _normalise_tasks(tasks)
    else:
        config["tasks"] = AUTO_TASKS
    validate(config)
    return config


def validate(config: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` on a value outside its allowed set."""
    for path, choices in CHOICES.items():
        value: Any = config
        for key in path:
            value = value[key]
        if value not in choices:
            raise ConfigError(f"{'.'.join(path)} must be one of {', '.join(choices)}, got {value!r}")
    options = config["weighting_options"] or {}
    allowed = WEIGHTING_OPTIONS[config["weighting"]]
    for key in options:
        if key not in allowed:
            hint = _suggest(key, sorted(allowed)) if allowed else "; this weighting takes no options"
            raise ConfigError(
                f"unknown key {key!r} in weighting_options for weighting {config['weighting']!r}{hint}"
            )
    if config["tasks"] == AUTO_TASKS:
        pass
    elif not isinstance(config["tasks"], Mapping):
        raise ConfigError(
            f"tasks must be a mapping of task names to weights or options, got {config['tasks']!r}"
        )
    elif not any(float(task["weight"]) > 0 for task in config["tasks"].values()):
        raise ConfigError("no task has a positive weight; give at least one task a weight > 0")
    fraction = config["data"]["valid_fraction"]
    if not 0 <= float(fraction) < 1:
        raise ConfigError(f"data.valid_fraction must be in [0, 1), got {fraction}")


def parse_tasks_option(text: str) -> dict[str, Any]:
    """Parse ``--tasks energy,forces=10,dipole=0.5`` into ``{name: weight or None}``."""
    tasks: dict[str, Any] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, weight = item.partition("=")
        name = name.strip()
        try:
            tasks[name] = float(weight) if weight else None
        except ValueError:
            raise ConfigError(
                f"invalid weight {weight!r} for task {name!r} in --tasks; use NAME or NAME=WEIGHT"
            ) from None
    if not tasks:
        raise ConfigError("--tasks is empty; list tasks as NAME or NAME=WEIGHT separated by commas")
    return tasks


def apply_overrides(config: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Apply command-line overrides (None means "not given") and validate again."""
    config = copy.deepcopy(config)
    mapping = {
        "data": ("data", "train"),
        "valid": ("data", "valid"),
        "out": ("out",),
        "weighting": ("weighting",),
        "max_minutes": ("training", "max_minutes"),
        "max_epochs": ("training", "max_epochs"),
        "dtype": ("dtype",),
        "seed": ("seed",),
        "device": ("device",),
    }
    for name, path in mapping.items():
        value = overrides.get(name)
        if value is None:
            continue
        target = config
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    if overrides.get("tasks"):
        selected = parse_tasks_option(overrides["tasks"])
        tasks = {}
        for name, weight in selected.items():
            if name not in TASKS:
                raise ConfigError(f"unknown task {name!r} in --tasks{_suggest(name, list(TASKS))}")
            current = config["tasks"] if isinstance(config["tasks"], Mapping) else {}
            options = copy.deepcopy(current.get(name, DEFAULTS["tasks"][name]))
            if weight is not None:
                options["weight"] = weight
            elif options["weight"] <= 0:
                options["weight"] = 1.0
            tasks[name] = options
        config["tasks"] = tasks
    validate(config)
    return config


def load_config(path: str | Path) -> dict[str, Any]:
    """Read and validate a YAML run configuration."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} not found")
    with open(path, encoding="utf-8") as stream:
        try:
            values = yaml.safe_load(stream)
        except yaml.YAMLError as error:
            raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if values is not None and not isinstance(values, Mapping):
        raise ConfigError(f"{path} must contain a mapping at the top level, got {type(values).__name__}")
    try:
        return build_config(values)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def dump_config(config: Mapping[str, Any]) -> str:
    """Return ``config`` as YAML text."""
    import yaml

    return yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=None)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value
