"""Neural shared-plus-specific dose model on the generic multi-task trainer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from molmtl.cli.main import main

from molmtl.pharmaco.encoding import FeatureSpec
from molmtl.pharmaco.model import DoseModel
from molmtl.pharmaco.table import prepare_table
from molmtl.pharmaco.torch_model import TorchOptions, fit_torch_dose_model


def _nonlinear_table(seed: int = 0, per_task: int = 150) -> pd.DataFrame:
    """Dose with a shared nonlinear weight effect and task-specific genotype effects."""
    rng = np.random.default_rng(seed)
    rows = []
    for task, genotype_effect in (("a", -0.2), ("b", -0.35), ("c", -0.1)):
        for _ in range(per_task):
            weight = rng.normal(0.0, 1.0)
            call = rng.choice(["G/G", "A/G", "A/A"])
            log_dose = 3.3 + 0.3 * np.tanh(2.0 * weight) + genotype_effect * call.count("A") + rng.normal(0, 0.05)
            rows.append({"task": task, "dose": np.exp(log_dose), "weight": weight, "vkorc1": call})
    return pd.DataFrame(rows)


def test_torch_variant_trains_and_round_trips(tmp_path):
    frame = _nonlinear_table()
    frame.to_csv(tmp_path / "doses.csv", index=False)
    model_options = {"kind": "torch", "hidden": [16], "epochs": 25, "patience": 25, "lr": 1e-2, "weight_decay": 0.0, "specific_decay": 1e-4, "batch_size": 64, "ema_decay": None}
    config = {
        "data": {"format": "csv", "path": "doses.csv", "task_column": "task", "dose_column": "dose"},
        "features": {"numeric": ["weight"], "snps": ["vkorc1"]},
        "model": model_options,
        "output": {"directory": "run"},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["pharmaco", "train", str(tmp_path / "config.yaml")]) == 0
    assert (tmp_path / "run" / "torch_run" / "metrics.csv").is_file()  # the trainer's log

    loaded = DoseModel.load(tmp_path / "run" / "model.json")
    assert loaded.kind == "torch"
    overall = loaded.info["cv_metrics"][-1]
    assert overall["task"] == "overall"
    assert overall["r2"] > 0.8, overall  # a constant predictor has R2 = 0

    table = prepare_table(frame, "task", "dose")
    direct = fit_torch_dose_model(table, FeatureSpec(numeric=["weight"], snps=["vkorc1"]), TorchOptions.from_dict({k: v for k, v in model_options.items() if k != "kind"}))
    np.testing.assert_allclose(loaded.predict(frame)["predicted_dose"], direct.predict(frame)["predicted_dose"], rtol=1e-4)

    unseen = frame.head(3).assign(task="d")
    with pytest.raises(ValueError, match="unknown_tasks='shared'"):
        loaded.predict(unseen)
    fallback = loaded.predict(unseen, unknown_tasks="shared")
    assert fallback["task_fallback"].all()
    assert np.isfinite(fallback[["predicted_dose", "lower", "upper"]].to_numpy()).all()


def test_torch_options_reject_unknown_keys():
    with pytest.raises(ValueError, match="unknown torch model keys"):
        TorchOptions.from_dict({"layers": 3})
    with pytest.raises(ValueError, match="valid_fraction"):
        TorchOptions(valid_fraction=0.0)
