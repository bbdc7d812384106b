"""Shared-plus-specific ridge: exactness, synthetic recovery, baselines, selection, small tasks."""

from __future__ import annotations

import numpy as np
import pytest

from molmtl.pharmaco.intervals import ResidualIntervals
from molmtl.pharmaco.linear import SharedSpecificRidge
from molmtl.pharmaco.selection import select_strengths


def _synthetic(rng, per_task, shared, specific, intercepts, noise, scales=None):
    """Rows of each task from y = X (w + v_t) + b_t + noise."""
    features = len(shared)
    scales = np.ones(features) if scales is None else scales
    designs, targets, tasks = [], [], []
    for task, (deviation, intercept) in enumerate(zip(specific, intercepts)):
        design = rng.normal(size=(per_task, features)) * scales
        designs.append(design)
        targets.append(design @ (shared + deviation) + intercept + noise * rng.normal(size=per_task))
        tasks += [f"task{task}"] * per_task
    return np.concatenate(designs), np.concatenate(targets), np.array(tasks)


def test_closed_form_matches_augmented_least_squares():
    rng = np.random.default_rng(0)
    design = rng.normal(size=(120, 4)) * [1.0, 3.0, 0.5, 2.0]
    tasks = rng.choice(["a", "b", "c"], size=120)
    target = rng.normal(size=120) + design @ [1.0, -0.5, 0.2, 0.0]
    lambda_shared, lambda_specific = 3.0, 7.0
    model = SharedSpecificRidge(lambda_shared, lambda_specific, standardize=False).fit(design, target, tasks)

    # Ridge on the augmented design [X, X * 1{task=t} ..., one-hot task] with penalty rows.
    names = sorted(set(tasks))
    blocks = [design] + [design * (tasks == name)[:, None] for name in names]
    onehot = np.stack([(tasks == name).astype(float) for name in names], axis=1)
    augmented = np.concatenate(blocks + [onehot], axis=1)
    penalties = np.concatenate([np.full(4, np.sqrt(lambda_shared)), np.full(12, np.sqrt(lambda_specific))])
    penalty_rows = np.concatenate([np.diag(penalties), np.zeros((16, 3))], axis=1)
    solution = np.linalg.lstsq(np.concatenate([augmented, penalty_rows]), np.concatenate([target, np.zeros(16)]), rcond=None)[0]

    np.testing.assert_allclose(model.coef_shared_, solution[:4], atol=1e-10)
    np.testing.assert_allclose(model.coef_specific_, solution[4:16].reshape(3, 4), atol=1e-10)
    np.testing.assert_allclose(model.intercepts_, solution[16:], atol=1e-10)
    np.testing.assert_allclose(model.predict(design, tasks), augmented @ solution[:19], atol=1e-9)


def test_recovers_shared_and_specific_coefficients():
    rng = np.random.default_rng(1)
    shared = np.array([1.5, -1.0, 0.5, 0.0, 2.0, -0.3])
    specific = rng.normal(scale=0.4, size=(4, 6))
    specific -= specific.mean(axis=0)  # w is then the mean task coefficient, which the fit identifies
    intercepts = np.array([10.0, 12.0, 8.0, 11.0])
    design, target, tasks = _synthetic(rng, 1500, shared, specific, intercepts, noise=0.3, scales=np.array([1, 2, 0.5, 1, 3, 1.0]))

    # With negligible shrinkage the fit splits beta_t = w + v_t so that
    # w = T * lambda_specific / (lambda_shared + T * lambda_specific) * mean_t(beta_t), i.e. the mean.
    model = SharedSpecificRidge(lambda_shared=1e-4, lambda_specific=1.0).fit(design, target, tasks)
    assert model.tasks_ == ["task0", "task1", "task2", "task3"]
    np.testing.assert_allclose(model.coef_shared_, shared, atol=0.02)
    np.testing.assert_allclose(model.coef_specific_, specific, atol=0.04)
    np.testing.assert_allclose(model.intercepts_, intercepts, atol=0.05)


def test_multitask_beats_baselines_with_few_samples():
    """Few patients per task, similar tasks: sharing strength lowers the test error."""
    errors = {"multitask": [], "single_task": [], "pooled": []}
    for seed in range(5):
        rng = np.random.default_rng(100 + seed)
        shared = rng.normal(size=10)
        specific = rng.normal(scale=0.5, size=(6, 10))
        intercepts = rng.normal(scale=2.0, size=6)
        train = _synthetic(rng, 12, shared, specific, intercepts, noise=1.0)
        test = _synthetic(rng, 400, shared, specific, intercepts, noise=1.0)
        for mode in errors:
            base = SharedSpecificRidge(mode=mode)
            grid = list(np.logspace(-2, 3, 11))
            chosen = select_strengths(base, *train, shared_grid=grid, specific_grid=grid, n_folds=5, seed=seed)
            model = base.with_strengths(chosen.lambda_shared, chosen.lambda_specific).fit(*train)
            errors[mode].append(np.mean((model.predict(test[0], test[2]) - test[1]) ** 2))
    # excess test error over the noise variance (1.0), averaged over the seeds
    excess = {mode: float(np.mean(values)) - 1.0 for mode, values in errors.items()}
    assert excess["multitask"] < 0.75 * excess["single_task"], excess
    assert excess["multitask"] < 0.75 * excess["pooled"], excess


def test_baseline_modes_are_limits():
    rng = np.random.default_rng(2)
    design, target, tasks = _synthetic(rng, 80, np.ones(3), rng.normal(size=(2, 3)), [0.0, 1.0], noise=0.5)
    pooled = SharedSpecificRidge(lambda_shared=2.0, mode="pooled").fit(design, target, tasks)
    assert np.all(pooled.coef_specific_ == 0)
    assert pooled.intercepts_[0] == pytest.approx(pooled.intercepts_[1])
    near_pooled = SharedSpecificRidge(2.0, 1e12).fit(design, target, tasks)
    assert np.abs(near_pooled.coef_specific_).max() < 1e-8

    single = SharedSpecificRidge(lambda_specific=2.0, mode="single_task").fit(design, target, tasks)
    assert np.all(single.coef_shared_ == 0)
    near_single = SharedSpecificRidge(1e12, 2.0).fit(design, target, tasks)
    np.testing.assert_allclose(near_single.task_coefficients(), single.task_coefficients(), atol=1e-6)


def test_selection_prefers_sharing_when_tasks_agree():
    rng = np.random.default_rng(3)
    design, target, tasks = _synthetic(rng, 25, rng.normal(size=5), np.zeros((3, 5)), [0.0, 0.0, 0.0], noise=1.0)
    grid = [0.1, 1.0, 10.0, 100.0, 1000.0]
    result = select_strengths(SharedSpecificRidge(), design, target, tasks, grid, grid, n_folds=5)
    assert result.lambda_specific >= 100.0
    assert len(result.scores) == 25
    assert result.oof_prediction.shape == target.shape


def test_single_patient_task_raises_or_falls_back():
    rng = np.random.default_rng(4)
    design, target, tasks = _synthetic(rng, 30, np.ones(3), np.zeros((2, 3)), [5.0, 5.0], noise=0.1)
    design = np.vstack([design, rng.normal(size=(1, 3))])
    target = np.append(target, 6.0)
    tasks = np.append(tasks, "lonely")
    with pytest.raises(ValueError, match=r"'lonely': 1.*small_tasks: shared"):
        SharedSpecificRidge().fit(design, target, tasks)

    model = SharedSpecificRidge(small_tasks="shared").fit(design, target, tasks)
    assert model.skipped_tasks_ == {"lonely": 1}
    assert "lonely" not in model.tasks_
    with pytest.raises(ValueError, match="unknown_tasks='shared'"):
        model.predict(design[-1:], tasks[-1:])
    fallback = model.predict(design[-1:], tasks[-1:], unknown_tasks="shared")
    assert fallback[0] == pytest.approx(design[-1] @ model.coef_shared_ + model.fallback_intercept)
    result = select_strengths(SharedSpecificRidge(small_tasks="shared"), design, target, tasks, [1.0], [1.0], n_folds=5)
    assert np.isfinite(result.oof_prediction).all()


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="lambda_shared must be a positive"):
        SharedSpecificRidge(lambda_shared=0.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        SharedSpecificRidge(mode="joint")
    model = SharedSpecificRidge()
    with pytest.raises(ValueError, match="NaN"):
        model.fit(np.array([[np.nan], [1.0], [2.0]]), np.ones(3), np.array(["a"] * 3))
    with pytest.raises(ValueError, match="fewer than the 5"):
        select_strengths(model, np.ones((6, 1)), np.ones(6), np.array(["a"] * 3 + ["b"] * 3))


def test_round_trip_keeps_predictions():
    rng = np.random.default_rng(5)
    design, target, tasks = _synthetic(rng, 40, np.ones(3), rng.normal(size=(2, 3)), [0.0, 1.0], noise=0.5)
    model = SharedSpecificRidge(2.0, 5.0).fit(design, target, tasks)
    copy = SharedSpecificRidge.from_dict(model.to_dict())
    np.testing.assert_array_equal(copy.predict(design, tasks), model.predict(design, tasks))


def test_conformal_intervals():
    residuals = np.concatenate([np.linspace(-1, 1, 99), np.linspace(-5, 5, 9)])
    tasks = np.array(["big"] * 99 + ["small"] * 9)
    intervals = ResidualIntervals.from_residuals(residuals, tasks, min_residuals=30)
    widths = intervals.half_width(np.array(["big", "small", "unseen"]), level=0.9)
    expected_big = np.sort(np.abs(residuals[:99]))[int(np.ceil(100 * 0.9)) - 1]
    expected_pooled = np.sort(np.abs(residuals))[int(np.ceil(109 * 0.9)) - 1]
    assert widths.tolist() == [expected_big, expected_pooled, expected_pooled]
    assert np.isinf(ResidualIntervals.conformal_quantile(np.arange(5.0), 0.9))
