"""``molmtl pharmaco`` train, eval, predict and explain end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from molmtl.cli.main import main


@pytest.fixture(scope="module")
def iwpc_subset(shared_data, tmp_path_factory):
    """A small real IWPC table: 120 patients per race group plus 20 of unknown race."""
    source = shared_data / "pgx_dosing" / "iwpc_warfarin" / "warfarin.csv"
    raw = pd.read_csv(source, dtype=str, keep_default_na=False)
    parts = [raw[raw["Race"] == race].iloc[:120] for race in ("White", "Asian", "Black or African American")]
    parts.append(raw[raw["Race"] == "Unknown"].iloc[:20])
    folder = tmp_path_factory.mktemp("iwpc")
    path = folder / "warfarin_subset.csv"
    pd.concat(parts).to_csv(path, index=False)
    return path


def _write_config(folder, data, features, model=None, bootstrap=30):
    config = {
        "data": data,
        "features": features,
        "model": model or {"kind": "linear", "mode": "multitask", "shared_grid": [1.0, 10.0, 100.0], "specific_grid": [1.0, 10.0, 100.0]},
        "interpretation": {"bootstrap": bootstrap, "interval_level": 0.8},
        "output": {"directory": "run"},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_iwpc_train_eval_predict_explain(iwpc_subset, tmp_path, capsys):
    config = _write_config(tmp_path, {"format": "iwpc", "path": str(iwpc_subset)}, {"preset": "iwpc"})
    assert main(["pharmaco", "train", str(config)]) == 0
    run = tmp_path / "run"
    for name in ("model.json", "cv_metrics.csv", "coefficients.csv", "coefficients.png"):
        assert (run / name).is_file(), name
    train_output = capsys.readouterr().out
    assert "Black or African American" in train_output
    assert "excluded rows" in train_output  # unknown race and unstable doses are counted
    assert "imputed missing values" in train_output
    assert "'height_cm':" in train_output

    metrics_path = tmp_path / "metrics.csv"
    assert main(["pharmaco", "eval", str(run / "model.json"), str(iwpc_subset), "-o", str(metrics_path), "--plot", str(tmp_path / "parity.png")]) == 0
    metrics = pd.read_csv(metrics_path).set_index("task")
    assert set(metrics.index) == {"White", "Asian", "Black or African American", "overall"}
    assert metrics.loc["overall", "n"] == metrics.drop(index="overall")["n"].sum()
    assert 0 < metrics.loc["overall", "mae"] < 20
    assert (tmp_path / "parity.png").stat().st_size > 0

    doses_path = tmp_path / "doses.csv"
    assert main(["pharmaco", "predict", str(run / "model.json"), str(iwpc_subset), "-o", str(doses_path)]) == 0
    doses = pd.read_csv(doses_path)
    assert list(doses.columns[:6]) == ["id", "task", "predicted_dose", "lower", "upper", "task_fallback"]
    assert len(doses) == 380  # every row, also unknown race (shared-coefficient fallback)
    assert doses.loc[doses["task"] == "Unknown race", "task_fallback"].all()
    assert not doses.loc[doses["task"] != "Unknown race", "task_fallback"].any()
    assert (doses["lower"] <= doses["predicted_dose"]).all()
    assert (doses["predicted_dose"] <= doses["upper"]).all()
    assert "predicted from the shared coefficients" in capsys.readouterr().out

    coefficients_path = tmp_path / "coefficients.csv"
    assert main(["pharmaco", "explain", str(run / "model.json"), "-o", str(coefficients_path), "--plot", str(tmp_path / "coef.png")]) == 0
    coefficients = pd.read_csv(coefficients_path)
    assert {"feature", "term", "task", "coefficient", "ci_low", "ci_high", "standardized"} <= set(coefficients.columns)
    assert (tmp_path / "coef.png").stat().st_size > 0


def _drug_table(rng, counts):
    """Patients of several coumarins with a CYP2C9 diplotype, a VKORC1 call and a co-medication."""
    rows = []
    for drug, count in counts.items():
        for _ in range(count):
            star = rng.choice(["*1/*1", "*1/*2", "*1/*3", "*2/*3"], p=[0.6, 0.2, 0.15, 0.05])
            call = rng.choice(["G/G", "A/G", "A/A"])
            amiodarone = int(rng.random() < 0.1)
            weight = rng.normal(75, 12)
            dose = 30 * np.exp(-0.15 * star.count("*2") - 0.3 * star.count("*3") - 0.25 * call.count("A") - 0.3 * amiodarone + 0.004 * (weight - 75))
            dose *= {"warfarin": 1.0, "acenocoumarol": 0.45, "phenprocoumon": 0.3}[drug] * np.exp(rng.normal(0, 0.1))
            rows.append({"patient": f"p{len(rows)}", "drug": drug, "dose": round(dose, 2), "weight": round(weight, 1), "cyp2c9": star, "vkorc1": call, "amiodarone": amiodarone})
    return pd.DataFrame(rows)


def test_csv_table_bad_inputs(tmp_path, capsys):
    rng = np.random.default_rng(0)
    table = _drug_table(rng, {"warfarin": 60, "acenocoumarol": 40, "phenprocoumon": 30})
    data_path = tmp_path / "drugs.csv"
    table.to_csv(data_path, index=False)
    data = {"format": "csv", "path": "drugs.csv", "task_column": "drug", "dose_column": "dose", "id_column": "patient"}
    features = {"numeric": ["weight"], "diplotypes": ["cyp2c9"], "snps": ["vkorc1"], "flags": ["amiodarone"]}
    config = _write_config(tmp_path, data, features, bootstrap=0)
    assert main(["pharmaco", "train", str(config)]) == 0
    model_path = tmp_path / "run" / "model.json"
    assert json.loads(model_path.read_text())["regressor"]["tasks"] == ["acenocoumarol", "phenprocoumon", "warfarin"]
    capsys.readouterr()

    # explain without a stored table requires training data
    assert main(["pharmaco", "explain", str(model_path), "-o", str(tmp_path / "c.csv")]) == 1
    assert "--data" in capsys.readouterr().err
    assert main(["pharmaco", "explain", str(model_path), "-o", str(tmp_path / "c.csv"), "--data", str(data_path), "--bootstrap", "20"]) == 0

    # an unknown genotype string names the value and the way out
    bad = table.copy()
    bad.loc[3, "cyp2c9"] = "*1/*3x"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert main(["pharmaco", "predict", str(model_path), str(tmp_path / "bad.csv"), "-o", str(tmp_path / "out.csv")]) == 1
    error = capsys.readouterr().err
    assert "'*1/*3x'" in error
    assert "unknown_values: missing" in error
    assert not (tmp_path / "out.csv").exists()

    # a table without the dose column cannot be evaluated
    table.drop(columns="dose").to_csv(tmp_path / "nodose.csv", index=False)
    assert main(["pharmaco", "eval", str(model_path), str(tmp_path / "nodose.csv")]) == 1
    assert "no dose column 'dose'" in capsys.readouterr().err
    # ... but predicted
    assert main(["pharmaco", "predict", str(model_path), str(tmp_path / "nodose.csv"), "-o", str(tmp_path / "out.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "out.csv")) == len(table)

    # a task with a single patient is an error by default
    lonely = pd.concat([table, _drug_table(rng, {"warfarin": 1}).assign(drug="fluindione")])
    lonely.to_csv(data_path, index=False)
    assert main(["pharmaco", "train", str(config)]) == 1
    assert "'fluindione': 1" in capsys.readouterr().err
    # ... and predicted from the shared coefficients with small_tasks: shared
    config = _write_config(tmp_path, data, features, model={"mode": "multitask", "small_tasks": "shared", "shared_grid": [10.0], "specific_grid": [10.0]}, bootstrap=0)
    assert main(["pharmaco", "train", str(config)]) == 0
    assert json.loads(model_path.read_text())["info"]["skipped_tasks"] == {"fluindione": 1}


def test_config_errors(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data": {"format": "csv", "path": "x.csv"}, "features": {"numeric": ["age"]}}))
    assert main(["pharmaco", "train", str(config)]) == 1
    assert "task_column" in capsys.readouterr().err
    config.write_text(yaml.safe_dump({"data": {"format": "csv", "path": "x.csv", "task_column": "t", "dose_column": "d"}, "features": {"numeric": ["age"]}}))
    assert main(["pharmaco", "train", str(config)]) == 1
    assert "x.csv not found" in capsys.readouterr().err
