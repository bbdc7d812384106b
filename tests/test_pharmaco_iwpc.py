"""IWPC loader, the published IWPC equation, metrics and the model file on the real IWPC table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from molmtl.pharmaco.fit import FitOptions, fit_dose_model
from molmtl.pharmaco.interpret import coefficient_table, plot_coefficients
from molmtl.pharmaco.iwpc import age_in_decades, iwpc_features, load_iwpc, read_iwpc_dictionary
from molmtl.pharmaco.iwpc_equation import IWPCEquation
from molmtl.pharmaco.metrics import dose_metrics
from molmtl.pharmaco.model import DoseModel


@pytest.fixture(scope="module")
def iwpc_folder(shared_data):
    return shared_data / "pgx_dosing" / "iwpc_warfarin"


@pytest.fixture(scope="module")
def iwpc_table(iwpc_folder):
    return load_iwpc(iwpc_folder / "warfarin.csv")


def test_dictionary_units(iwpc_folder):
    dictionary = read_iwpc_dictionary(iwpc_folder / "metadata.xls")
    units = dict(zip(dictionary["name"], dictionary["unit"]))
    assert units["Therapeutic Dose of Warfarin"] == "mg/week"
    assert units["Height (cm)"] == "cm"
    assert "CYP2C9 consensus" in set(dictionary["name"])


def test_loader_tasks_and_exclusions(iwpc_table):
    counts = iwpc_table.task_counts()
    assert set(counts) == {"White", "Asian", "Black or African American"}
    assert sum(counts.values()) == len(iwpc_table)
    # 5,700 patient rows: every left-out row is counted under a reason
    assert len(iwpc_table) + sum(iwpc_table.excluded.values()) == 5700
    assert iwpc_table.excluded["without a stable dose"] > 0
    assert iwpc_table.excluded["without a task label"] > 0
    assert np.all(iwpc_table.doses > 0)
    frame = iwpc_table.frame
    assert frame["age_decades"].dropna().between(1, 9).all()
    assert set(frame["enzyme_inducer"].dropna().unique()) <= {0.0, 1.0}


def test_loader_keeps_unknown_race_as_task(iwpc_folder):
    table = load_iwpc(iwpc_folder / "warfarin.csv", other_race="task")
    assert "Unknown race" in table.task_counts()
    assert "without a task label" not in table.excluded


def test_age_bins():
    assert age_in_decades("70 - 79") == 7
    assert age_in_decades("90+") == 9
    assert np.isnan(age_in_decades("NA"))
    with pytest.raises(ValueError, match="age bin"):
        age_in_decades("old")


def test_iwpc_equation_hand_computed():
    patients = pd.DataFrame(
        {
            "age_decades": [6.0, 7.0],
            "height_cm": [170.0, np.nan],
            "weight_kg": [80.0, 60.0],
            "vkorc1_1639": ["G/A", ""],
            "cyp2c9": ["*1/*3", "*1/*11"],
            "race": ["Asian", "Unknown race"],
            "amiodarone": [1.0, np.nan],
            "enzyme_inducer": [0.0, 1.0],
        }
    )
    equation = IWPCEquation().fit(patients)
    first = 5.6044 - 0.2614 * 6 + 0.0087 * 170 + 0.0128 * 80 - 0.8677 - 0.9357 - 0.1092 - 0.5503
    # second: height imputed with the median (170), both genotypes unknown, mixed/missing race
    second = 5.6044 - 0.2614 * 7 + 0.0087 * 170 + 0.0128 * 60 - 0.4854 - 0.2188 - 0.1032 + 1.1816
    np.testing.assert_allclose(equation.predict_sqrt(patients), [first, second], atol=1e-12)
    np.testing.assert_allclose(equation.predict(patients), np.square([first, second]))
    assert equation.imputed_rows == 1


def test_iwpc_equation_on_real_table(iwpc_table):
    predicted = IWPCEquation().fit(iwpc_table.frame).predict(iwpc_table.frame)
    metrics = dose_metrics(iwpc_table.doses, predicted, iwpc_table.tasks)
    # The IWPC paper reports MAE 8.5 mg/week on its validation cohort.
    assert 7.5 < metrics.loc["overall", "mae"] < 9.5
    assert 40.0 < metrics.loc["overall", "within_20"] < 52.0


def test_metrics_definitions():
    actual = np.array([10.0, 20.0, 30.0, 40.0])
    predicted = np.array([11.0, 25.0, 30.0, 40.0])
    metrics = dose_metrics(actual, predicted, np.array(["a", "a", "b", "b"]))
    assert metrics.loc["overall", "mae"] == pytest.approx(1.5)
    assert metrics.loc["a", "within_20"] == pytest.approx(50.0)
    assert metrics.loc["b", "r2"] == pytest.approx(1.0)
    assert metrics.loc["overall", "r2"] == pytest.approx(1 - 26 / 500)
    with pytest.raises(ValueError, match="NaN"):
        dose_metrics(actual, np.array([1.0, np.nan, 1.0, 1.0]), np.array(["a"] * 4))


def test_fit_explain_save_load(iwpc_table, tmp_path):
    rows = np.concatenate([np.flatnonzero(iwpc_table.tasks == task)[:150] for task in ("White", "Asian", "Black or African American")])
    table = iwpc_table.subset(rows)
    options = FitOptions(shared_grid=[1.0, 10.0, 100.0], specific_grid=[1.0, 10.0, 100.0])
    model = fit_dose_model(table, iwpc_features(extended=False), options)
    assert model.info["selection"]["grid_points"] == 9
    assert model.info["cv_metrics"][-1]["task"] == "overall"

    coefficients = coefficient_table(model, table, n_bootstrap=30, progress=False)
    shared = coefficients[coefficients["term"] == "shared"].set_index("feature")
    counted = [name for name in shared.index if name.startswith("vkorc1_1639:") and not name.endswith(":missing")]
    assert len(counted) == 1
    vkorc1 = shared.loc[counted[0]]
    # each -1639 A allele lowers the dose (G raises it), whichever allele is the minor one here
    assert np.sign(vkorc1["coefficient"]) == (1 if counted[0].endswith(":G") else -1)
    assert vkorc1["ci_low"] <= vkorc1["coefficient"] <= vkorc1["ci_high"]
    assert set(coefficients["term"]) == {"shared", "specific", "total"}
    plot_coefficients(coefficients, str(tmp_path / "coef.png"))
    assert (tmp_path / "coef.png").stat().st_size > 0

    model.save(tmp_path / "model.json")
    loaded = DoseModel.load(tmp_path / "model.json")
    expected = model.predict(table.frame)
    actual = loaded.predict(table.frame)
    pd.testing.assert_frame_equal(actual, expected)
    assert (actual["lower"] <= actual["predicted_dose"]).all()
    assert (actual["predicted_dose"] <= actual["upper"]).all()


def test_model_file_rejects_other_json(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a pharmaco model file"):
        DoseModel.load(path)
