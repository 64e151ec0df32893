"""Lossless JSON round trip of the domain dataclasses."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.codec import decode, encode
from bot.core.types import Book, Fill, Level, Order, OrderStatus, OrderUpdate, Side
from bot.venues.base import VenueOrder

D = Decimal
FILL = Fill("BTC-PERP", "t-9", "o1", Side.SELL, D("101.50"), D("0.250"), D("-0.0025375"), "USD", "maker", 1700000000.25)

OBJECTS = [
    Order("o1", "BTC-PERP", Side.BUY, D("100.0"), D("1.000"), OrderStatus.OPEN, 1700000000.125),
    Order("o2", "ETH-PERP", Side.SELL, D("2E+3"), D("0.5"), OrderStatus.CANCEL_PENDING, 1.5, filled=D("0.1"),
          venue_order_id="v-2", target=D("-3.25"), reason="wrong side"),
    FILL,
    OrderUpdate("BTC-PERP", "o1", OrderStatus.FILLED, D("0.250"), "v-1", "fill", fill=FILL, ts=1700000000.5),
    OrderUpdate("BTC-PERP", "o1", OrderStatus.REJECTED, D("0"), None, "post-only"),
    VenueOrder("BTC-PERP", "o1", Side.BUY, D("99.5"), D("2"), D("0.75"), OrderStatus.OPEN, "sim-3"),
    VenueOrder("BTC-PERP", "o3", Side.SELL, D("101"), D("1"), D("0"), OrderStatus.PENDING),
    Book("BTC-PERP", (Level(D("100"), D("3")),), (Level(D("100.5"), D("1.25")),), 12.5),
]


def roundtrip(obj):
    return decode(type(obj), json.loads(json.dumps(encode(obj))))


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: type(o).__name__)
def test_round_trip_is_exact(obj) -> None:
    back = roundtrip(obj)
    assert back == obj
    assert type(back) is type(obj)
    for name in obj.__dataclass_fields__:  # equal *and* same representation (Decimal("1.000") stays "1.000")
        assert repr(getattr(back, name)) == repr(getattr(obj, name))


def test_encoding_is_plain_json_types() -> None:
    data = encode(OBJECTS[3])
    assert data["status"] == "filled" and data["filled"] == "0.250"
    assert data["fill"]["side"] == "sell" and data["fill"]["fee"] == "-0.0025375"


def test_missing_optional_fields_take_defaults_and_unknown_keys_are_ignored() -> None:
    data = encode(OBJECTS[0])
    del data["reason"], data["target"]
    data["added_in_a_later_version"] = 1
    assert decode(Order, data) == OBJECTS[0]


finite_decimals = st.decimals(allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(price=finite_decimals, size=finite_decimals, ts=st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_decimal_and_float_survive(price: Decimal, size: Decimal, ts: float) -> None:
    obj = Fill("X", "t", "o", Side.BUY, price, size, D(0), "USD", "taker", ts)
    back = roundtrip(obj)
    assert (str(back.price), str(back.size), back.ts) == (str(price), str(size), ts)
