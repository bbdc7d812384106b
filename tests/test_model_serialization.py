"""Saving and loading models: one self-describing file, safe loading, bit-for-bit round trips."""

from __future__ import annotations

import pytest
import torch
from ase.build import molecule

import molmtl
from molmtl.nn.serialization import FORMAT_VERSION, load_model, save_model
from test_model_helpers import random_model, salt_crystal, to_batch


@pytest.fixture(scope="module")
def model():
    return random_model(seed=3, correlation_order=2, num_layers=3)


def test_round_trip_is_bit_for_bit(model, tmp_path):
    path = tmp_path / "model.pt"
    save_model(model, path)
    loaded = molmtl.load_model(path)
    assert loaded.config == model.config
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    batch = to_batch([molecule("CH3CH2OH"), salt_crystal()])
    expected = model(batch, compute_forces=True, compute_stress=True)
    result = loaded(batch, compute_forces=True, compute_stress=True)
    for key, value in expected.items():
        assert torch.equal(value, result[key]), key


def test_file_holds_metadata_and_loads_safely(model, tmp_path):
    path = tmp_path / "model.pt"
    save_model(model, path)
    content = torch.load(path, weights_only=True)
    assert content["format"] == "molmtl-model"
    assert content["format_version"] == FORMAT_VERSION
    assert content["molmtl_version"] == molmtl.__version__
    assert content["config"]["atomic_numbers"] == model.atomic_numbers
    assert content["config"]["e0s"] == model.config.e0s
    assert content["config"]["avg_num_neighbors"] == model.config.avg_num_neighbors
    assert content["config"]["energy_scale"] == model.config.energy_scale
    assert content["units"]["energy"] == "eV"
    assert content["units"]["forces"] == "eV/Angstrom"
    assert content["dipole_reference"] == "centre_of_mass"


def test_newer_format_version_fails_clearly(model, tmp_path):
    path = tmp_path / "future.pt"
    save_model(model, path)
    content = torch.load(path, weights_only=True)
    content["format_version"] = FORMAT_VERSION + 1
    torch.save(content, path)
    with pytest.raises(ValueError, match=r"format version .* Upgrade molmtl"):
        load_model(path)


def test_missing_and_foreign_files_fail(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_model(tmp_path / "absent.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ValueError, match="not a molmtl model file"):
        load_model(foreign)


def test_load_as_float32(model, tmp_path):
    path = tmp_path / "model.pt"
    save_model(model, path)
    single = load_model(path, dtype=torch.float32)
    assert single.dtype == torch.float32
    assert single.config.dtype == "float32"
    assert model.dtype == torch.float64
    data = to_batch([molecule("CH3CH2OH")])
    difference = (single(data)["energy"] - model(data)["energy"]).abs().item()
    assert difference / 9 < 1e-5
    save_model(single, tmp_path / "single.pt")
    assert load_model(tmp_path / "single.pt").dtype == torch.float32


def test_save_is_atomic(model, tmp_path):
    path = tmp_path / "model.pt"
    save_model(model, path)
    before = path.read_bytes()

    class Broken(torch.nn.Module):
        pass

    with pytest.raises(AttributeError):
        save_model(Broken(), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
