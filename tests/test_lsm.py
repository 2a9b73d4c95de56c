"""Liquid state machines: reservoir structure, readouts, and classification on real recordings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuro.errors import ConfigError, ShapeError
from neuro.learning.readouts import ContrastiveProjection, LogisticReadout, RidgeReadout
from neuro.models.lsm import LiquidStateMachine, grid_positions, rram_weights, spectral_radius_of


def test_reservoir_structure_follows_the_specification():
    m = LiquidStateMachine(20, n=216, spectral_radius=0.8, seed=1)
    w = m.w_rec.numpy()  # [post, pre]
    exc = m.excitatory.numpy()
    assert abs(exc.mean() - 0.8) < 0.01
    assert (w[:, exc] >= 0).all() and (w[:, ~exc] <= 0).all()  # Dale's law by presynaptic type
    assert np.allclose(np.diag(w), 0)
    assert spectral_radius_of(w) == pytest.approx(0.8, rel=1e-3)
    # distance-dependent: neighbours connect far more often than distant pairs
    pos = grid_positions(216)
    d = np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1))
    conn = w != 0
    assert conn[d <= 1.01].mean() > 5 * conn[d >= 4].mean()


def test_rram_weights_have_finite_levels_and_variability():
    rng = np.random.default_rng(0)
    exact = rram_weights((200, 200), rng, levels=4, d2d=0.0)
    assert len(np.unique(np.round(exact * 1e6))) <= 4 * 4  # differences of 4 levels
    noisy = rram_weights((200, 200), rng, levels=4, d2d=0.1)
    assert len(np.unique(noisy)) > 1000
    m = LiquidStateMachine(10, n=64, weights="rram", seed=0)
    assert m.w_rec.abs().sum() > 0


def test_bad_configuration():
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        LiquidStateMachine(10, n=50, p_in=1.5)
    with pytest.raises(ConfigError, match="frac_exc"):
        LiquidStateMachine(10, n=50, frac_exc=2.0)
    with pytest.raises(ConfigError, match="positive"):
        LiquidStateMachine(0, n=50)
    with pytest.raises(ShapeError, match=r"\[T, B, 10\]"):
        LiquidStateMachine(10, n=50)(torch.zeros(5, 2, 11))
    with pytest.raises(ConfigError, match="before fit"):
        RidgeReadout().predict(torch.zeros(3, 4))


def test_reservoir_matches_its_definition_step_by_step():
    torch.manual_seed(0)
    m = LiquidStateMachine(8, n=64, seed=2, input_scale=3.0)
    x = (torch.rand(20, 3, 8) < 0.3).float()
    s = m(x)
    beta = float(m.neuron.decays()[0])
    v = torch.zeros(3, 64)
    prev = torch.zeros(3, 64)
    for t in range(20):
        h = beta * v + x[t] @ m.w_in.t() + prev @ m.w_rec.t()
        prev = (h > m.neuron.v_threshold).float()
        v = h * (1 - prev)
        torch.testing.assert_close(s[t], prev)
    assert s.sum() > 0


def test_readouts_and_features():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (300,), generator=g)
    X = torch.randn(300, 10, generator=g) + torch.nn.functional.one_hot(y, 10).float() * 3
    assert RidgeReadout().fit(X[:200], y[:200]).score(X[200:], y[200:]) > 0.9
    assert LogisticReadout().fit(X[:200], y[:200]).score(X[200:], y[200:]) > 0.9
    s = (torch.rand(12, 4, 5) < 0.5).float()
    assert LiquidStateMachine.features(s, "counts", bins=3).shape == (4, 15)
    torch.testing.assert_close(LiquidStateMachine.features(s, "counts", bins=3).reshape(4, 3, 5).sum(1), s.sum(0))


def test_contrastive_projection_aligns_two_modalities():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 4, (400,), generator=g)
    A = torch.randn(400, 6, generator=g) * 0.3 + torch.nn.functional.one_hot(y, 6).float()
    B = torch.randn(400, 8, generator=g) * 0.3 + torch.nn.functional.one_hot(y, 8).float() @ torch.randn(8, 8,
                                                                                                        generator=g)
    p = ContrastiveProjection(6, 8, dim=16).fit(A, B, y, epochs=30)
    protos = torch.stack([B[y == c].mean(0) for c in range(4)])
    assert (p.match(A, protos) == y).float().mean() > 0.9


def test_lsm_classifies_real_nmnist(shared_data):
    from neuro.experiments.lsm import lsm_nmnist

    r = lsm_nmnist(shared_data / "nmnist-small", n=300)
    assert r["ridge_accuracy"] > 0.6 and r["logistic_accuracy"] > 0.6  # chance 0.1
    assert 0 < r["firing_rate"] < 1 and r["synops_per_sample"] > 0


def test_reservoir_exports_to_nir_with_the_same_spikes(tmp_path):
    import nir

    from neuro.export import from_nir, to_nir

    m = LiquidStateMachine(8, n=64, seed=3, input_scale=3.0)
    x = (torch.rand(25, 2, 8) < 0.3).float()
    nir.write(tmp_path / "lsm.nir", to_nir(m, dt=1e-3))
    back = from_nir(nir.read(tmp_path / "lsm.nir"))
    with torch.no_grad():
        a, b = m(x), back(x)
    assert a.sum() > 0
    torch.testing.assert_close(a, b)


def test_zero_shot_protocol_on_real_data(shared_data):
    from neuro.experiments.lsm import lsm_zeroshot

    with pytest.raises(ConfigError, match="disjoint"):
        lsm_zeroshot(shared_data, n=50, seen=(1, 2), unseen=(2, 3))
    r = lsm_zeroshot(shared_data, n=300, repeats=2)
    assert r["seen"] == list(range(7)) and r["unseen"] == [7, 8, 9]
    assert r["test_samples"]["seen"] > 0 and r["test_samples"]["unseen"] > 0
    assert len(r["repeats"]) == 2 and r["seen_accuracy"] == pytest.approx(np.mean([x["seen_accuracy"]
                                                                                    for x in r["repeats"]]))
    # the projections align the seen digits across modalities: well above 1/7 on an unseen speaker
    assert r["seen_accuracy"] > 2.5 * r["seen_chance"]
    assert 0 <= r["unseen_accuracy"] <= 1 and r["unseen_chance"] == pytest.approx(1 / 3)
