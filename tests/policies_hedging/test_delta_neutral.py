"""``delta_neutral``: fixed and Whalley–Wilmott no-trade bands around the target delta."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.core.policies import compute_target, delta_neutral
from bot.core.policies.delta_neutral import whalley_wilmott_band
from bot.core.types import GreeksView

from .support import INVERSE, LINEAR, D, all_finite, on_grid, state

# a short 1 BTC 60 000 call, 30 days, 60 % vol (bot.core.greeks.black.bsm): delta 0.5343, gamma 3.851e-5 /USD
CALL_DELTA, CALL_GAMMA = 0.5342697035912677, 3.851120212064754e-05
SHORT_CALL = GreeksView(delta_coin=-CALL_DELTA, gamma_coin=-CALL_GAMMA, instrument_delta_coin=1.0)


def params(**overrides) -> delta_neutral.Params:
    fields = dict(band="fixed", band_coin=0.1, max_position=D("100"))
    fields.update(overrides)
    return delta_neutral.Params(**fields)


@pytest.mark.parametrize("overrides, held, expected", [
    ({"rehedge_to": "neutral"}, None, D("0.534")),  # buy 0.5343 BTC, truncated to the lot
    ({"rehedge_to": "edge"}, None, D("0.434")),  # to −0.1: 0.4343
    ({"rehedge_to": "edge"}, D("0.45"), D("0.45")),  # deviation −0.0843 inside ±0.1: keep
    ({"rehedge_to": "edge"}, D("0.7"), D("0.634")),  # deviation +0.1657: down to the +0.1 edge
    ({"rehedge_to": "neutral", "target_delta_coin": 0.2}, None, D("0.734")),
    ({"rehedge_to": "neutral", "max_position": D("0.3")}, None, D("0.3")),
])
def test_fixed_band_by_hand(overrides, held, expected) -> None:
    decision = compute_target(params(**overrides), state(greeks=SHORT_CALL, target=held))
    assert decision.target == expected and on_grid(decision.target)


def test_zero_band_rehedges_any_deviation_and_is_stable() -> None:
    p = params(band_coin=0.0, rehedge_to="neutral")
    first = compute_target(p, state(greeks=SHORT_CALL))
    assert first.target == D("0.534")
    assert compute_target(p, state(greeks=SHORT_CALL, target=first.target)).target == first.target  # no churn


def test_the_position_is_the_hedge_before_any_target() -> None:
    decision = compute_target(params(), state(greeks=SHORT_CALL, position=D("0.5")))
    assert decision.target == D("0.5")


def test_inverse_hedge_counts_one_contracts_delta() -> None:
    # 100 USD contracts at 50 000: 0.002 BTC each; −0.5343 BTC → 267 contracts (267.13 truncated)
    greeks = GreeksView(delta_coin=-CALL_DELTA, instrument_delta_coin=100 / 50_000)
    decision = compute_target(params(band_coin=0.0, rehedge_to="neutral", max_position=D("1000")),
                              state(instrument=INVERSE, greeks=greeks))
    assert decision.target == D("267")


def test_whalley_wilmott_band_by_hand() -> None:
    # H = (3/2 · λ · S · Γ² / γ)^(1/3), λ = 3 bp, S 60 000, Γ 3.851e-5, γ 1e-4 /USD
    expected = (1.5 * 3e-4 * 60_000 * CALL_GAMMA ** 2 / 1e-4) ** (1 / 3)
    assert expected == pytest.approx(0.07371, abs=1e-5)
    assert whalley_wilmott_band(3e-4, 60_000, -CALL_GAMMA, 1e-4) == pytest.approx(expected, rel=1e-12)
    p = params(band="whalley_wilmott", cost_bps=3, risk_aversion_per_usd=1e-4, rehedge_to="edge")
    decision = compute_target(p, state(greeks=SHORT_CALL, mid=60_000.0))
    assert decision.inputs["band_coin"] == pytest.approx(expected, rel=1e-12)
    assert decision.target == D("0.460")  # to the −0.0737 edge: 0.5343 − 0.0737 = 0.4606


def test_band_floor_and_cap() -> None:
    p = params(band="whalley_wilmott", cost_bps=3, risk_aversion_per_usd=1e-4, min_band_coin=0.2, max_band_coin=0.3)
    assert compute_target(p, state(greeks=GreeksView(delta_coin=-0.15))).target == D("0")  # no gamma: floor 0.2
    big_gamma = GreeksView(delta_coin=-1, gamma_coin=-1e-2)
    assert compute_target(p, state(greeks=big_gamma)).inputs["band_coin"] == 0.3


def test_holds_when_it_cannot_hedge() -> None:
    assert compute_target(params(), state(greeks=GreeksView(delta_coin=-1, instrument_delta_coin=0.0))) is None
    ww = params(band="whalley_wilmott", risk_aversion_per_usd=1e-4)
    assert compute_target(ww, state((), greeks=SHORT_CALL, mid=None)) is None
    assert compute_target(params(), state((), greeks=SHORT_CALL, mid=None)).target == D("0.434")  # fixed: no price


def test_whalley_wilmott_needs_a_risk_aversion() -> None:
    with pytest.raises(ValidationError, match="risk_aversion_per_usd"):
        params(band="whalley_wilmott")
    with pytest.raises(ValidationError, match="max_band_coin"):
        params(min_band_coin=1, max_band_coin=0.5)


# -- invariants -----------------------------------------------------------------------------------

positive = st.floats(1e-9, 1e6)


@settings(max_examples=150, deadline=None)
@given(gamma=st.floats(-1.0, 1.0), factor=st.floats(1.0, 100.0), cost=positive, s=positive, gamma_ra=positive)
def test_band_widens_with_gamma_and_cost_and_narrows_with_risk_aversion(gamma, factor, cost, s, gamma_ra) -> None:
    h = whalley_wilmott_band(cost, s, gamma, gamma_ra)
    assert whalley_wilmott_band(cost, s, gamma * factor, gamma_ra) >= h
    assert whalley_wilmott_band(cost * factor, s, gamma, gamma_ra) >= h
    assert whalley_wilmott_band(cost, s, gamma, gamma_ra * factor) <= h
    assert math.isfinite(h) and h >= 0


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(delta=finite, gamma=finite, d=finite, mid=st.none() | st.floats(1e-6, 1e12), held=st.none() | st.decimals(-50, 50, places=3),
       band=st.sampled_from(["fixed", "whalley_wilmott"]), to=st.sampled_from(["edge", "neutral"]),
       band_coin=st.floats(0, 1e6), ra=st.floats(1e-12, 1e6), inverse=st.booleans())
def test_any_finite_input_gives_a_capped_grid_target_or_none(delta, gamma, d, mid, held, band, to, band_coin, ra,
                                                             inverse) -> None:
    instrument = INVERSE if inverse else LINEAR
    p = params(band=band, band_coin=band_coin, risk_aversion_per_usd=ra, rehedge_to=to, max_position=D("40"))
    greeks = GreeksView(delta_coin=delta, gamma_coin=gamma, instrument_delta_coin=d)
    decision = compute_target(p, state((), instrument=instrument, mid=mid, greeks=greeks, target=held))
    if decision is None:
        assert abs(d) < 1e-12 or (band == "whalley_wilmott" and mid is None)
        return
    assert abs(decision.target) <= D("40") and all_finite(decision.inputs)
    assert on_grid(decision.target, instrument) or decision.target == held


@settings(max_examples=150, deadline=None)
@given(delta=st.floats(-30, 30), d=st.floats(0.5, 2) | st.floats(-2, -0.5), band_coin=st.floats(0, 5),
       to=st.sampled_from(["edge", "neutral"]), held=st.none() | st.decimals(-10, 10, places=3))
def test_after_a_decision_the_book_is_within_the_band_up_to_a_lot(delta, d, band_coin, to, held) -> None:
    p = params(band_coin=band_coin, rehedge_to=to)
    decision = compute_target(p, state(greeks=GreeksView(delta_coin=delta, instrument_delta_coin=d), target=held))
    assert abs(delta + float(decision.target) * d) <= band_coin + abs(d) * float(LINEAR.lot_size) + 1e-9
