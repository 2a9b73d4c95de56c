"""Neuron parameters and states that would silently stop a neuron: non-finite values are refused
for every neuron family, a NaN in a state passed in is refused, and an empty sequence is an error."""

from __future__ import annotations

import math

import pytest
import torch

import neuro
from neuro.backends import State
from neuro.core.twopoint import TwoPointState
from neuro.errors import ConfigError, ShapeError
from neuro.neurons import ALIF, IF, LI, LIF, CubaLI, CubaLIF, TwoPointLIF, TwoPointRate
from neuro.neurons.twopoint import modulate

NAN, INF = math.nan, math.inf

BAD_PARAMETERS = [
    (LIF, {"v_reset": NAN}, "v_reset must be finite"),
    (LIF, {"v_reset": INF}, "v_reset must be finite"),
    (LIF, {"v_reset": -INF}, "v_reset must be finite"),
    (LIF, {"v_threshold": NAN}, "v_threshold must be finite"),
    (LIF, {"alpha": INF}, "alpha must be finite"),
    (LIF, {"v_reset": "zero"}, "v_reset must be a number"),
    (LIF, {"tau": NAN}, "tau must be >= 1"),
    (LIF, {"beta": NAN}, r"in \[0, 1\]"),
    (IF, {"v_reset": NAN}, "v_reset must be finite"),
    (ALIF, {"beta_a": NAN}, "beta_a must be finite"),
    (ALIF, {"v_reset": INF}, "v_reset must be finite"),
    (LI, {"tau": "slow"}, "tau must be a number"),
    (CubaLIF, {"v_reset": NAN}, "v_reset must be finite"),
    (CubaLIF, {"v_threshold": INF}, "v_threshold must be finite"),
    (CubaLI, {"beta_syn": NAN}, r"in \[0, 1\]"),
    (TwoPointLIF, {"v_reset": NAN}, "v_reset must be finite"),
    (TwoPointLIF, {"k1": INF}, "k1 must be finite"),
    (TwoPointLIF, {"alpha": NAN}, "alpha must be finite"),
    (TwoPointRate, {"k2": NAN}, "k2 must be finite"),
]


@pytest.mark.parametrize(("cls", "kwargs", "message"), BAD_PARAMETERS,
                         ids=[f"{c.__name__}-{next(iter(k))}={next(iter(k.values()))}" for c, k, _ in BAD_PARAMETERS])
def test_non_finite_parameters_are_refused(cls, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        cls(**kwargs)


def test_modulate_refuses_non_finite_constants():
    r = torch.rand(3, 4)
    with pytest.raises(ConfigError, match="k2 must be finite"):
        modulate(r, r, "generalized", k2=NAN)


@pytest.mark.parametrize("backend", ["torch", "cpu"])
@pytest.mark.parametrize(("cls", "field"), [(LIF, "v"), (CubaLIF, "i"), (ALIF, "a")])
def test_a_nan_in_a_passed_in_state_is_refused(cls, field, backend):
    m = cls(backend=backend)
    x = torch.rand(5, 2, 4) * 3
    _, state = m(x, return_state=True)
    torch.testing.assert_close(m(x, state), m(x, state))  # a good state passes
    bad = state._replace(**{field: getattr(state, field).clone()})
    getattr(bad, field)[1, 2] = NAN
    with pytest.raises(ConfigError, match=rf"state passed in \(state\.{field}\) contains NaN"):
        m(x, bad)
    with pytest.raises(ConfigError, match="contains NaN"):
        m.step(x[0], bad)


def test_a_nan_in_a_two_point_state_is_refused():
    m = TwoPointLIF()
    r, c = torch.rand(4, 2, 3), torch.rand(4, 2, 3)
    good = m.init_state((2, 3))
    bad = TwoPointState(good.v.clone(), good.p.clone())
    bad.p[0, 0] = INF
    with pytest.raises(ConfigError, match=r"state\.p\) contains NaN or inf"):
        m(r, c, bad)
    with pytest.raises(ConfigError, match="contains NaN or inf"):
        m.step(r[0], c[0], bad)
    with pytest.raises(ShapeError, match="TwoPointState of two"):
        m.step(r[0], c[0], TwoPointState(good.v[:1], good.p))
    s, st = m.step(r[0], c[0], good)
    assert s.shape == (2, 3) and torch.isfinite(st.v).all()


def test_state_checks_follow_set_checks():
    m = LIF()
    bad = State(torch.full((2, 4), NAN))
    try:
        neuro.set_checks(False)
        m(torch.rand(3, 2, 4), bad)  # the caller turned the checks off
    finally:
        neuro.set_checks(True)
    with pytest.raises(ConfigError):
        m(torch.rand(3, 2, 4), bad)


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_an_empty_sequence_is_a_clear_error(backend):
    with pytest.raises(ShapeError, match=r"empty sequence \(T = 0"):
        LIF(backend=backend)(torch.zeros(0, 2, 3))
    with pytest.raises(ShapeError, match=r"empty sequence \(T = 0"):
        CubaLIF(backend=backend)(torch.zeros(0, 2, 3))
    with pytest.raises(ShapeError, match=r"empty sequence \(T = 0"):
        TwoPointLIF(backend=backend)(torch.zeros(0, 2, 3), torch.zeros(0, 2, 3))
