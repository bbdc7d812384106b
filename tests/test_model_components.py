"""Encoder pieces against e3nn, and equivariance of the model's other architectures (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import molecule
from e3nn import o3

from molmtl.nn.irreps import build_coupling, natural_irreps, natural_layout
from molmtl.nn.radial import BesselBasis, PolynomialEnvelope
from test_model_helpers import evaluate, random_model, rotation_matrix, salt_crystal


def _to_e3nn(features: torch.Tensor, layout) -> torch.Tensor:
    """Convert [N, D, C] features to e3nn's layout (per irrep block: channels, then components)."""
    blocks = []
    for block, ir in enumerate(layout.irreps):
        components = [layout.component(block, m) for m in range(ir.dim)]
        blocks.append(features[:, components, :].transpose(1, 2).reshape(features.shape[0], -1))
    return torch.cat(blocks, dim=-1)


def test_coupling_matches_e3nn_tensor_product():
    torch.manual_seed(0)
    channels, num_edges = 4, 7
    layout_in = natural_layout(2)
    layout_sh = natural_layout(2)
    targets = natural_irreps(2)
    coupling = build_coupling(layout_in, layout_sh, targets)
    irreps_in = o3.Irreps([(channels, ir) for ir in layout_in.irreps])
    irreps_out = o3.Irreps([(channels, ir) for ir in coupling.layout.irreps])
    instructions = []
    for index, (ir_x, ir_y, _) in enumerate(_paths(layout_in.irreps, layout_sh.irreps, targets)):
        instructions.append((layout_in.irreps.index(ir_x), layout_sh.irreps.index(ir_y), index, "uvu", True))
    reference = o3.TensorProduct(
        irreps_in,
        o3.Irreps.spherical_harmonics(2),
        irreps_out,
        instructions,
        irrep_normalization="component",
        path_normalization="none",
        internal_weights=False,
        shared_weights=False,
    ).to(torch.float64)
    features = torch.randn(num_edges, layout_in.dim, channels, dtype=torch.float64)
    harmonics = torch.randn(num_edges, layout_sh.dim, dtype=torch.float64)
    weights = torch.randn(num_edges, coupling.num_paths, channels, dtype=torch.float64)

    ours = torch.einsum("eic,ej,ijq->eqc", features, harmonics, coupling.tensor) * weights[:, coupling.path_index, :]
    theirs = reference(_to_e3nn(features, layout_in), harmonics, weights.reshape(num_edges, -1))
    assert torch.allclose(_to_e3nn(ours, coupling.layout), theirs, atol=1e-12)


def test_convolution_module_matches_coupling():
    from molmtl.nn.convolution import Convolution

    torch.manual_seed(1)
    channels, num_nodes = 3, 5
    layout = natural_layout(2)
    convolution = Convolution(layout, layout, natural_irreps(2), channels, avg_num_neighbors=2.0).double()
    edge_index = torch.tensor([[0, 0, 1, 2, 4, 4], [1, 3, 0, 4, 2, 3]])
    features = torch.randn(num_nodes, layout.dim, channels, dtype=torch.float64)
    harmonics = torch.randn(edge_index.shape[1], layout.dim, dtype=torch.float64)
    weights = torch.randn(edge_index.shape[1], convolution.num_paths * channels, dtype=torch.float64)
    result = convolution(features, harmonics, weights, edge_index)
    coupling = build_coupling(layout, layout, natural_irreps(2))
    per_path = weights.reshape(-1, coupling.num_paths, channels)[:, coupling.path_index, :]
    messages = torch.einsum("eic,ej,ijq->eqc", features[edge_index[1]], harmonics, coupling.tensor) * per_path
    expected = torch.zeros(num_nodes, coupling.layout.dim, channels, dtype=torch.float64)
    expected.index_add_(0, edge_index[0], messages)
    assert torch.allclose(result, expected / 2.0, atol=1e-12)


def _paths(irreps_x, irreps_y, targets):
    """List coupling paths in the order of ``build_coupling`` (grouped by output irrep)."""
    paths = []
    for ir_x in irreps_x:
        for ir_y in irreps_y:
            for ir_out in ir_x * ir_y:
                if ir_out in targets:
                    paths.append((targets.index(ir_out), ir_x, ir_y, ir_out))
    paths.sort(key=lambda path: path[0])
    return [path[1:] for path in paths]


def test_vector_harmonics_are_cartesian():
    model = random_model()
    vector = torch.tensor([[0.3, -1.2, 0.8]], dtype=torch.float64)
    harmonics = model.encoder.spherical_harmonics(vector)
    assert torch.allclose(harmonics[0, 1:4], np.sqrt(3.0) * vector[0] / vector.norm(), atol=1e-14)


def test_envelope_and_basis_vanish_at_cutoff():
    envelope = PolynomialEnvelope(5.0, 6).double()
    basis = BesselBasis(5.0, 8).double()
    lengths = torch.tensor([[5.0 - 1e-6], [5.0], [5.5]], dtype=torch.float64, requires_grad=True)
    values = envelope(lengths)
    assert values[1:].abs().max() == 0.0
    assert values[0].item() < 1e-15
    (gradient,) = torch.autograd.grad(values.sum(), lengths)
    assert gradient.abs().max() < 1e-9
    assert basis(lengths[1:2]).abs().max() < 1e-14
    assert envelope(torch.tensor([[0.0]], dtype=torch.float64)).item() == 1.0


@pytest.mark.parametrize(
    "options",
    [
        {"l_max": 2, "correlation_order": 3},
        {"l_max": 2, "correlation_order": 1, "num_layers": 3},
        {"l_max": 1, "correlation_order": 2, "num_channels": 8},
        {"l_max": 0, "heads": ["energy", "charges"]},
    ],
    ids=["lmax2-nu3", "lmax2-nu1", "lmax1-nu2", "lmax0"],
)
def test_architectures_are_equivariant(options):
    model = random_model(seed=7, **options)
    ethanol = molecule("CH3CH2OH")
    ethanol.positions += 0.05 * np.random.default_rng(0).normal(size=ethanol.positions.shape)
    reference = evaluate(model, ethanol)
    for matrix in (rotation_matrix(11), -rotation_matrix(12)):
        moved = ethanol.copy()
        moved.positions = ethanol.positions @ matrix.T + [1.0, 2.0, -3.0]
        result = evaluate(model, moved)
        matrix_t = torch.tensor(matrix)
        assert torch.allclose(result["energy"], reference["energy"], rtol=0, atol=1e-9)
        assert torch.allclose(result["forces"], reference["forces"] @ matrix_t.T, atol=1e-9)
        if "dipole" in reference:
            assert torch.allclose(result["dipole"], reference["dipole"] @ matrix_t.T, atol=1e-9)
    crystal = salt_crystal()
    assert torch.isfinite(evaluate(model, crystal, stress=True)["stress"]).all()


def test_default_parameter_count():
    model = random_model(atomic_numbers=[1, 6, 8], e0s={})
    count = sum(parameter.numel() for parameter in model.parameters())
    assert 20_000 < count < 200_000


def test_edge_pairing_matches_reverse_edges():
    from molmtl.nn.geometry import pair_edges
    from test_model_helpers import silicon_crystal, to_data

    data = to_data(silicon_crystal().repeat((2, 1, 1)))
    edge_index, shifts = data.edge_index, data.shifts
    pairs = pair_edges(edge_index, shifts, data.num_nodes)
    assert pairs is not None and 2 * pairs.representative.numel() == edge_index.shape[1]
    partner = pairs.representative[pairs.inverse]
    same = (edge_index[:, partner] == edge_index).all(dim=0) & (shifts[partner] == shifts).all(dim=1)
    reverse = (edge_index[:, partner] == edge_index.flip(0)).all(dim=0) & (shifts[partner] == -shifts).all(dim=1)
    assert bool((same | reverse).all())
    half = (edge_index[0] < edge_index[1]) | ((edge_index[0] == edge_index[1]) & (shifts[:, 0] > 0))
    assert pair_edges(edge_index[:, half], shifts[half], data.num_nodes) is None
    assert pair_edges(edge_index, shifts, data.num_nodes, min_edges=10**9) is None


def test_edge_pairing_keeps_forces_and_stress():
    from test_model_helpers import silicon_crystal

    model = random_model(seed=5, atomic_numbers=[14], e0s={})
    crystal = silicon_crystal().repeat((2, 1, 1))
    model.min_edges_to_pair = 0
    paired = evaluate(model, crystal, stress=True)
    model.min_edges_to_pair = 10**9
    single = evaluate(model, crystal, stress=True)
    for key in ("energy", "forces", "stress"):
        assert torch.allclose(paired[key], single[key], rtol=0, atol=1e-12), key
