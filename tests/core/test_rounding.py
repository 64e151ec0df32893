"""Prices snap toward the passive side, sizes truncate toward zero; both exactly on the grid."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.rounding import passive_price, size_to_lot
from bot.core.types import Side

D = Decimal
STEPS = [D(s) for s in ("0.0001", "0.01", "0.05", "0.1", "0.25", "0.5", "1", "5", "25")]
# up to 8 decimal places and 10 integer digits: well inside the 28-digit default context
values = st.integers(-10**18, 10**18).map(lambda n: D(n).scaleb(-8))
positive_values = st.integers(1, 10**18).map(lambda n: D(n).scaleb(-8))


def on_grid(value: Decimal, step: Decimal) -> bool:
    return value % step == 0


@pytest.mark.parametrize(
    "side, price, tick, expected",
    [
        (Side.BUY, "100.37", "0.5", "100.0"),
        (Side.SELL, "100.37", "0.5", "100.5"),
        (Side.BUY, "100.5", "0.5", "100.5"),  # already on the grid: unchanged
        (Side.SELL, "100.5", "0.5", "100.5"),
        (Side.BUY, "0.123456", "0.0001", "0.1234"),
        (Side.SELL, "0.123456", "0.0001", "0.1235"),
        (Side.BUY, "-1.2", "1", "-2"),  # floor, not truncation
        (Side.SELL, "-1.2", "1", "-1"),
    ],
)
def test_passive_price_hand_cases(side: Side, price: str, tick: str, expected: str) -> None:
    assert passive_price(side, D(price), D(tick)) == D(expected)


@pytest.mark.parametrize(
    "size, lot, expected",
    [("1.2345", "0.001", "1.234"), ("-1.2345", "0.001", "-1.234"), ("0.0009", "0.001", "0"), ("7", "2", "6"),
     ("-7", "2", "-6"), ("3", "1", "3")],
)
def test_size_to_lot_hand_cases(size: str, lot: str, expected: str) -> None:
    assert size_to_lot(D(size), D(lot)) == D(expected)


@pytest.mark.parametrize("step", ["0", "-0.5"])
def test_non_positive_step_is_refused(step: str) -> None:
    with pytest.raises(ValueError):
        passive_price(Side.BUY, D("100"), D(step))
    with pytest.raises(ValueError):
        size_to_lot(D("1"), D(step))


@settings(max_examples=300, deadline=None)
@given(price=values, tick=st.sampled_from(STEPS))
def test_bid_floored_and_ask_ceiled_within_one_tick(price: Decimal, tick: Decimal) -> None:
    bid = passive_price(Side.BUY, price, tick)
    ask = passive_price(Side.SELL, price, tick)
    assert isinstance(bid, Decimal) and isinstance(ask, Decimal)
    assert on_grid(bid, tick) and on_grid(ask, tick)
    assert price - tick < bid <= price <= ask < price + tick
    assert (bid == ask) == on_grid(price, tick)


@settings(max_examples=200, deadline=None)
@given(bid_ticks=st.integers(1, 10**8), spread_ticks=st.integers(1, 5), frac=st.floats(0, 1, exclude_max=True),
       tick=st.sampled_from(STEPS))
def test_rounding_inside_the_spread_never_crosses(bid_ticks: int, spread_ticks: int, frac: float,
                                                  tick: Decimal) -> None:
    best_bid, best_ask = bid_ticks * tick, (bid_ticks + spread_ticks) * tick
    inside = best_bid + (best_ask - best_bid) * D(repr(frac))  # any price in [bid, ask)
    assert passive_price(Side.BUY, inside, tick) < best_ask
    assert passive_price(Side.SELL, best_ask - (inside - best_bid), tick) > best_bid


@settings(max_examples=300, deadline=None)
@given(size=values, lot=st.sampled_from(STEPS))
def test_size_truncates_toward_zero_onto_the_lot(size: Decimal, lot: Decimal) -> None:
    out = size_to_lot(size, lot)
    assert isinstance(out, Decimal) and on_grid(out, lot)
    assert abs(out) <= abs(size) and abs(size) - abs(out) < lot
    assert out == 0 or (out > 0) == (size > 0)
    assert size_to_lot(out, lot) == out  # idempotent


@pytest.mark.parametrize(
    "call, value, bound",
    [
        (lambda v: passive_price(Side.BUY, v, D("0.5")), "9.999999999999999999999999999", "le"),
        (lambda v: passive_price(Side.SELL, v, D("0.5")), "5.000000000000000000000000001", "ge"),
        (lambda v: size_to_lot(v, D("0.5")), "0.9999999999999999999999999999", "le"),
    ],
    ids=["bid-rounded-up", "ask-rounded-down", "size-rounded-up"],
)
def test_full_precision_values_round_the_right_way(call, value: str, bound: str) -> None:
    # 28 significant digits, i.e. a value the default Decimal context can itself produce
    out = call(D(value))
    assert out <= D(value) if bound == "le" else out >= D(value)
