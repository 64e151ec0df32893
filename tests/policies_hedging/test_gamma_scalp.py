"""``gamma_scalp``: re-hedge on k-σ moves since the last hedge fill, or on delta drift."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.policies import compute_target, gamma_scalp
from bot.core.policies._vol import SECONDS_PER_YEAR
from bot.core.types import GreeksView, PnlView

from .support import ALTERNATING, INVERSE, LINEAR, D, all_finite, on_grid, state

# σ 40 % annualised (ALTERNATING); horizon 1/100 year → σ_h = 4 %
HORIZON = SECONDS_PER_YEAR / 100
LONG_STRADDLE = GreeksView(delta_coin=0.3, gamma_coin=7.7e-5, instrument_delta_coin=1.0)
HELD = D("-0.1")  # book delta 0.3 − 0.1 = +0.2 since the last hedge


def params(**overrides) -> gamma_scalp.Params:
    fields = dict(move_sigmas=1.0, move_horizon_s=HORIZON, min_samples=5, vol_floor=0.01, max_position=D("10"))
    fields.update(overrides)
    return gamma_scalp.Params(**fields)


def fill(price: str | None) -> PnlView:
    return PnlView(last_fill_price=Decimal(price) if price is not None else None)


@pytest.mark.parametrize("last, overrides, expected, why", [
    ("48500", {}, HELD, "hold"),  # ln(50 000 / 48 500) = 3.05 % < 4 %
    ("47500", {}, D("-0.3"), "moved"),  # 5.13 % ≥ 4 %: back to zero delta
    ("52000", {}, HELD, "hold"),  # 3.92 %
    ("48500", {"move_sigmas": 0.5}, D("-0.3"), "moved"),  # ≥ 2 %
    ("48500", {"delta_band_coin": 0.15}, D("-0.3"), "delta"),  # deviation 0.2 > 0.15
    ("48500", {"delta_band_coin": 0.25}, HELD, "hold"),
    (None, {}, D("-0.3"), "no hedge fill yet"),
    ("47500", {"target_delta_coin": 0.05}, D("-0.25"), "moved"),
])
def test_triggers_by_hand(last, overrides, expected, why) -> None:
    decision = compute_target(params(**overrides), state(greeks=LONG_STRADDLE, target=HELD, pnl=fill(last)))
    assert decision.target == expected and why in decision.rationale
    assert decision.inputs["sigma_horizon"] == pytest.approx(0.04, rel=1e-9)


def test_holds_without_data() -> None:
    assert compute_target(params(), state(ALTERNATING[:4], greeks=LONG_STRADDLE)) is None
    assert compute_target(params(), state(greeks=GreeksView(instrument_delta_coin=0.0))) is None
    assert compute_target(params(), state((), greeks=LONG_STRADDLE, mid=None)) is None


def test_falls_back_to_the_last_sampled_mid_without_a_book() -> None:
    decision = compute_target(params(), state(greeks=LONG_STRADDLE, mid=None, target=HELD, pnl=fill("100")))
    assert decision.inputs["mid"] == pytest.approx(ALTERNATING[-1])


# -- invariants -----------------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(last=st.floats(1e3, 1e6), k1=st.floats(0.01, 10), k2=st.floats(0.01, 10),
       band=st.none() | st.floats(0.01, 5))
def test_a_larger_k_never_adds_a_rehedge(last, k1, k2, band) -> None:
    lo, hi = sorted((k1, k2))
    st_ = state(greeks=LONG_STRADDLE, target=HELD, pnl=fill(repr(last)))
    rehedged = [compute_target(params(move_sigmas=k, delta_band_coin=band), st_).target != HELD for k in (lo, hi)]
    assert rehedged[0] or not rehedged[1]


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(delta=finite, d=finite, last=st.none() | st.floats(-1e12, 1e12), mid=st.floats(1e-6, 1e12),
       held=st.none() | st.decimals(-20, 20, places=3), horizon=st.floats(1e-9, 1e12), inverse=st.booleans(),
       mids=st.lists(st.floats(1e-6, 1e12), min_size=0, max_size=30))
def test_any_finite_input_gives_a_capped_grid_target_or_none(delta, d, last, mid, held, horizon, inverse,
                                                             mids) -> None:
    instrument = INVERSE if inverse else LINEAR
    pnl = fill(repr(last)) if last is not None else fill(None)
    decision = compute_target(params(move_horizon_s=horizon), state(
        mids, instrument=instrument, mid=mid, greeks=GreeksView(delta_coin=delta, instrument_delta_coin=d),
        target=held, pnl=pnl))
    if decision is None:
        assert len(mids) < 5 or abs(d) < 1e-12
        return
    assert abs(decision.target) <= D("10") and all_finite(decision.inputs)
    assert on_grid(decision.target, instrument) or decision.target == held
