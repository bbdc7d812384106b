"""Model, masked tasks, metrics and trainer integration of molmtl.protein."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from molmtl.protein.dataset import ProteinDataset, collate_proteins
from molmtl.protein.inference import evaluate_predictions, predict_records
from molmtl.protein.labels import SS8_TO_SS3_INDEX, ss3_indices, ss8_indices
from molmtl.protein.metrics import accuracy, precision_recall, sov99
from molmtl.protein.model import ProteinModel, ProteinModelConfig, load_protein_model, save_protein_model
from molmtl.protein.record import ProteinRecord
from molmtl.protein.tasks import BuriedExposedTask, ProteinProblem, RSATask, SS8Task, build_tasks
from molmtl.protein.training import train_protein_model


def _records() -> list[ProteinRecord]:
    rng = np.random.default_rng(0)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    records = []
    for index in range(6):
        length = int(rng.integers(12, 40))
        sequence = "".join(rng.choice(letters, length))
        ss8 = rng.integers(0, 8, length)
        if index % 2:
            records.append(ProteinRecord(f"ss{index}", sequence, ss8=ss8))
        else:
            records.append(ProteinRecord(f"both{index}", sequence, ss8=ss8, rsa=rng.uniform(0, 1, length)))
    return records


def test_sov99_hand_example() -> None:
    true = ss3_indices("CHHHHHHHHC")
    predicted = ss3_indices("CHHHHCCCCC")
    # H: (4 + 2) / 8 * 8 = 6; C: 1 + 0.2; normaliser 8 + 1 + 1.
    assert sov99(true, predicted) == pytest.approx(7.2 / 10)
    assert sov99(true, true) == pytest.approx(1.0)


def test_sov99_missing_labels_split_segments() -> None:
    true = ss3_indices("HHH?HHH")
    assert sov99(true, ss3_indices("HHHHHHH")) == pytest.approx(1.0)
    assert np.isnan(sov99(ss3_indices("???"), ss3_indices("HHH")))


def test_accuracy_and_precision_recall() -> None:
    true = np.array([0, 0, 1, 2, -1])
    predicted = np.array([0, 1, 1, 2, 0])
    assert accuracy(true, predicted) == pytest.approx(0.75)
    classes = precision_recall(true, predicted, "HEC")
    assert classes["H"]["precision"] == 1.0
    assert classes["H"]["recall"] == 0.5
    assert classes["E"]["precision"] == 0.5
    assert classes["E"]["recall"] == 1.0


@pytest.mark.parametrize("encoder", ["bilstm", "conv_transformer"])
def test_model_outputs_and_padding(encoder: str) -> None:
    torch.manual_seed(0)
    model = ProteinModel(ProteinModelConfig(encoder=encoder, hidden=16, layers=1, heads=2, window=64)).eval()
    records = _records()[:2]
    dataset = ProteinDataset(records, window=64)
    batch = collate_proteins([dataset[0], dataset[1]])
    outputs = model(batch.features, batch.padding_mask)
    length = batch.features.shape[1]
    assert outputs["ss8_logits"].shape == (2, length, 8)
    assert outputs["ss3_logits"].shape == (2, length, 3)
    assert ((outputs["rsa"] >= 0) & (outputs["rsa"] <= 1)).all()
    # Derived SS3 probabilities are the summed SS8 probabilities.
    p8 = torch.softmax(outputs["ss8_logits"], -1)
    p3 = torch.softmax(outputs["ss3_logits"], -1)
    summed = torch.zeros_like(p3).index_add_(-1, torch.as_tensor(SS8_TO_SS3_INDEX), p8)
    torch.testing.assert_close(p3, summed)
    # A chain's outputs do not depend on the padding added by batching.
    single = collate_proteins([dataset[0]])
    alone = model(single.features, single.padding_mask)
    n = len(records[0])
    torch.testing.assert_close(alone["ss8_logits"][0], outputs["ss8_logits"][0, :n], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(alone["rsa"][0], outputs["rsa"][0, :n], atol=1e-5, rtol=1e-4)


def test_tasks_mask_missing_labels() -> None:
    torch.manual_seed(0)
    model = ProteinModel(ProteinModelConfig(hidden=16, layers=1, window=64))
    records = _records()
    dataset = ProteinDataset(records, window=64)
    batch = collate_proteins([dataset[1], dataset[3]])  # chains without RSA
    outputs = model(batch.features, batch.padding_mask)
    rsa = RSATask().evaluate(outputs, batch)
    assert float(rsa.count) == 0.0
    assert float(rsa.loss.detach()) == 0.0
    assert rsa.loss.requires_grad
    ss8 = SS8Task().evaluate(outputs, batch)
    assert float(ss8.count) == len(records[1]) + len(records[3])
    # Labels at masked positions do not change the loss.
    batch.ss8[0, 0] = -1
    reduced = SS8Task().evaluate(outputs, batch)
    batch.ss8[~batch.padding_mask] = 5  # garbage labels in the padding are ignored
    assert float(SS8Task().evaluate(outputs, batch).loss.detach()) == pytest.approx(float(reduced.loss.detach()))
    assert float(reduced.count) == float(ss8.count) - 1


def test_buried_task_threshold() -> None:
    record = ProteinRecord("t", "AAAA", rsa=np.array([0.1, 0.3, np.nan, 0.9]))
    batch = collate_proteins([ProteinDataset([record], window=16)[0]])
    outputs = {"exposed_logit": torch.tensor([[-5.0, 5.0, 5.0, -5.0]], requires_grad=True)}
    result = BuriedExposedTask(threshold=0.25).evaluate(outputs, batch)
    assert float(result.count) == 3.0
    assert float(result.abs_error_sum) == 1.0  # only the last residue is wrong


def test_build_tasks_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown protein tasks"):
        build_tasks({"ss9": 1.0}, 0.25)


@pytest.mark.parametrize("weighting", ["fixed", "uncertainty", "gradnorm"])
def test_trainer_weightings(weighting: str, tmp_path: Path) -> None:
    records = _records()
    options = {"max_epochs": 1, "batch_size": 3, "progress": False, "tensorboard": False, "plots": False}
    config = ProteinModelConfig(hidden=16, layers=1, window=32, stride=16)
    model, history = train_protein_model(
        records[:4], records[4:], config, {"ss8": 1.0, "rsa": 1.0, "buried": 0.5}, weighting, options, tmp_path
    )
    assert len(history) == 1
    assert np.isfinite(history[0]["train_loss"])
    assert (tmp_path / "model.pt").exists()
    assert isinstance(model, ProteinModel)


def test_trainer_without_run_dir_returns_model() -> None:
    records = _records()
    options = {"max_epochs": 1, "batch_size": 3, "progress": False, "tensorboard": False, "plots": False}
    config = ProteinModelConfig(hidden=8, layers=1, window=32, stride=16)
    model, history = train_protein_model(records[:4], records[4:], config, {"ss8": 1.0}, "fixed", options, None)
    assert len(history) == 1
    assert isinstance(model, ProteinModel)
    assert not model.training


def test_trainer_rejects_task_without_labels() -> None:
    records = [r for r in _records() if r.rsa is None]
    config = ProteinModelConfig(hidden=8, layers=1, window=32)
    options = {"max_epochs": 1, "progress": False, "tensorboard": False, "plots": False}
    with pytest.raises(ValueError, match="rsa"):
        train_protein_model(records, None, config, {"ss8": 1.0, "rsa": 1.0}, "fixed", options, None)


def test_save_load_predict_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = ProteinModel(ProteinModelConfig(encoder="conv_transformer", hidden=16, layers=1, heads=2, window=16, stride=8))
    save_protein_model(model, tmp_path / "model.pt")
    loaded = load_protein_model(tmp_path / "model.pt")
    records = _records()
    first = predict_records(model.eval(), records)
    second = predict_records(loaded, records)
    for a, b in zip(first, second):
        np.testing.assert_allclose(a.ss8_probabilities, b.ss8_probabilities, atol=1e-6)
        assert a.rsa.shape == (len(a.sequence),)
    metrics = evaluate_predictions(records, second, loaded.config.buried_threshold)
    assert metrics["residues_ss8"] == sum(len(r) for r in records)
    assert metrics["residues_rsa"] == sum(len(r) for r in records if r.rsa is not None)
    assert 0.0 <= metrics["q3"] <= 1.0


def test_load_rejects_other_files(tmp_path: Path) -> None:
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a molmtl protein model"):
        load_protein_model(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        load_protein_model(tmp_path / "missing.pt")


def test_own_ss3_head_trains() -> None:
    torch.manual_seed(0)
    config = ProteinModelConfig(hidden=16, layers=1, window=64, ss3_head="own")
    model = ProteinModel(config)
    assert model.ss3_head is not None
    batch = collate_proteins([ProteinDataset(_records(), window=64)[0]])
    outputs = model(batch.features, batch.padding_mask)
    loss = build_tasks({"ss3": 1.0}, config.buried_threshold)[0].evaluate(outputs, batch).loss
    loss.backward()
    assert model.ss3_head.weight.grad is not None
    assert model.ss8_head.weight.grad is None


def test_config_rejects_unknown_options() -> None:
    with pytest.raises(ValueError, match="unknown model options"):
        ProteinModelConfig.from_dict({"encoder": "bilstm", "hiddden": 3})
    with pytest.raises(ValueError, match="unknown encoder"):
        ProteinModelConfig(encoder="gru")
