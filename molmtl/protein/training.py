"""Train a :class:`ProteinModel` on the generic multi-task trainer of :mod:`molmtl.training`."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from molmtl.protein.config import ProteinTrainConfig, load_source, split_by_chain
from molmtl.protein.dataset import ProteinDataset
from molmtl.protein.model import ProteinModel, ProteinModelConfig
from molmtl.protein.record import ProteinRecord
from molmtl.protein.tasks import ProteinProblem, build_tasks

logger = logging.getLogger(__name__)


def train_protein_model(
    train_records: Sequence[ProteinRecord],
    valid_records: Sequence[ProteinRecord] | None,
    model_config: ProteinModelConfig,
    tasks: Mapping[str, float],
    weighting: str = "uncertainty",
    trainer_options: Mapping[str, Any] | None = None,
    run_dir: str | Path | None = None,
) -> tuple[ProteinModel, list[dict[str, Any]]]:
    """Train a model with the multi-task trainer; return the evaluation (EMA) model and the history.

    ``tasks`` maps task names (``ss8``, ``ss3``, ``rsa``, ``buried``) to user weights and
    ``trainer_options`` contains :class:`molmtl.training.config.TrainerConfig` fields. With a
    ``run_dir`` the trainer writes checkpoints, ``metrics.csv``, TensorBoard logs, plots, and
    ``model.pt`` in the format of :func:`molmtl.protein.model.save_protein_model`.
    """
    import torch

    from molmtl.training import Trainer, TrainerConfig

    options = dict(trainer_options or {})
    seed = int(options.get("seed", 0))
    torch.manual_seed(seed)
    model = ProteinModel(model_config)
    problem = ProteinProblem(build_tasks(tasks, model_config.buried_threshold))
    window, stride, physchem = model_config.window, model_config.stride, model_config.physchem
    train_data = ProteinDataset(train_records, window=window, stride=stride, physchem=physchem)
    valid_data = (
        ProteinDataset(valid_records, window=window, stride=stride, physchem=physchem) if valid_records else None
    )
    trainer = Trainer(
        model, problem, train_data, valid_data, config=TrainerConfig(**options), weighting=weighting, run_dir=run_dir
    )
    history = trainer.fit()
    best = _best_model(trainer, run_dir)
    return best, history


def _best_model(trainer: Any, run_dir: str | Path | None) -> ProteinModel:
    """Return the best saved model when the run wrote one, else the trainer's evaluation model."""
    from molmtl.protein.model import load_protein_model

    if run_dir is not None and (Path(run_dir) / "model.pt").exists():
        return load_protein_model(Path(run_dir) / "model.pt")
    model = trainer.evaluation_model
    while hasattr(model, "module") and not isinstance(model, ProteinModel):
        model = model.module
    return model.eval()


def train_from_config(config: ProteinTrainConfig) -> tuple[ProteinModel, list[dict[str, Any]]]:
    """Load the data sources of ``config``, split when needed, and train; return model and history."""
    train_records = [r for source in config.train_sources for r in load_source(source, config.mask_columns)]
    valid_records = [r for source in config.valid_sources for r in load_source(source, config.mask_columns)]
    if not valid_records:
        train_records, valid_records = split_by_chain(train_records, config.valid_fraction, config.split_seed)
    logger.info("training on %d chains, validating on %d chains", len(train_records), len(valid_records))
    return train_protein_model(
        train_records, valid_records or None, config.model, config.tasks, config.weighting, config.trainer,
        config.run_dir,
    )
