"""``vega_neutral``: an option leg sized to bring the book's vega to target; its delta reported."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.policies import compute_target, vega_neutral
from bot.core.types import GreeksView

from .support import LINEAR, D, all_finite, on_grid, state

# book: short 2 BTC 60 000 calls, 90 days, 60 % vol (−235.10 USD/pt, delta −1.118 BTC); leg: the 30-day call
# (68.371 USD/pt, delta 0.5343 per contract) — values from bot.core.greeks.black.bsm
LEG_VEGA, LEG_DELTA = 68.37057253199892, 0.5342697035912677
BOOK = GreeksView(delta_coin=-2 * 0.5592109764538652, vega_usd_per_vol_point=-2 * 117.54854415089277,
                  instrument_delta_coin=LEG_DELTA, instrument_vega_usd_per_vol_point=LEG_VEGA)


def params(**overrides) -> vega_neutral.Params:
    fields = dict(max_position=D("100"))
    fields.update(overrides)
    return vega_neutral.Params(**fields)


def test_flattens_vega_by_hand_and_reports_the_legs_delta() -> None:
    decision = compute_target(params(), state(greeks=BOOK))
    assert decision.target == D("3.438")  # 235.097 / 68.371 = 3.4386
    assert decision.inputs["leg_delta_coin"] == pytest.approx(3.438 * LEG_DELTA)
    assert decision.inputs["book_delta_after_coin"] == pytest.approx(BOOK.delta_coin + 3.438 * LEG_DELTA)
    assert abs(decision.inputs["vega_after_usd_per_vol_point"]) < LEG_VEGA * 0.001


@pytest.mark.parametrize("overrides, held, expected", [
    ({"target_vega_usd_per_vol_point": 100}, None, D("4.901")),  # (100 + 235.097) / 68.371 = 4.9012
    ({"band_usd_per_vol_point": 10}, D("3.4"), D("3.4")),  # −2.64 USD/pt: inside
    ({"band_usd_per_vol_point": 10}, D("3.2"), D("3.438")),  # −16.3 USD/pt: outside
    ({"max_position": D("2")}, None, D("2")),
])
def test_band_target_and_cap(overrides, held, expected) -> None:
    assert compute_target(params(**overrides), state(greeks=BOOK, target=held)).target == expected


def test_holds_while_the_legs_vega_is_unknown() -> None:
    assert compute_target(params(), state(greeks=GreeksView(vega_usd_per_vol_point=-100))) is None


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(book_vega=finite, v=finite, delta=finite, leg_delta=finite, band=st.floats(0, 1e9),
       held=st.none() | st.decimals(-100, 100, places=3))
def test_any_finite_input_gives_a_capped_grid_target_or_none(book_vega, v, delta, leg_delta, band, held) -> None:
    greeks = GreeksView(delta_coin=delta, vega_usd_per_vol_point=book_vega, instrument_delta_coin=leg_delta,
                        instrument_vega_usd_per_vol_point=v)
    decision = compute_target(params(band_usd_per_vol_point=band, max_position=D("50")),
                              state(greeks=greeks, target=held))
    if decision is None:
        assert abs(v) < 1e-12
        return
    assert abs(decision.target) <= D("50") and all_finite(decision.inputs)
    assert on_grid(decision.target) or decision.target == held


@settings(max_examples=150, deadline=None)
@given(book_vega=st.floats(-1000, 1000), v=st.floats(10, 200) | st.floats(-200, -10), band=st.floats(0, 50))
def test_after_a_decision_vega_is_within_the_band_up_to_a_lot(book_vega, v, band) -> None:
    greeks = GreeksView(vega_usd_per_vol_point=book_vega, instrument_vega_usd_per_vol_point=v)
    decision = compute_target(params(band_usd_per_vol_point=band), state(greeks=greeks))
    assert abs(book_vega + float(decision.target) * v) <= band + abs(v) * float(LINEAR.lot_size) + 1e-9
