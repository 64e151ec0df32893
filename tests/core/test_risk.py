"""Pre-trade limits: each one just inside (passes) and just outside (rejected, named)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core.risk import RiskLimits, check_order

from .support import book

D = Decimal
LIMITS = RiskLimits(max_position=D("10"), max_order_size=D("2"), stale_after_s=2.0, price_band_bps=D("50"))
BOOK = book(bids=(("99.5", "1"),), asks=(("100.5", "1"),), ts=1000.0)  # mid 100: 50 bp = 0.5


def check(book=BOOK, position="0", working="0", size="1", price="100", now=1000.5):
    return check_order(limits=LIMITS, book=book, position=D(position), working=D(working), signed_size=D(size),
                       price=D(price), now=now)


@pytest.mark.parametrize(
    "overrides, broken",
    [
        (dict(now=1002.0), None),
        (dict(now=1002.01), "stale_after_s"),
        (dict(size="2"), None),
        (dict(size="2.001"), "max_order_size"),
        (dict(size="-2.001"), "max_order_size"),
        (dict(position="7", working="1", size="2"), None),
        (dict(position="7", working="1.001", size="2"), "max_position"),
        (dict(position="-7", working="-1", size="-2"), None),
        (dict(position="-7", working="-1.001", size="-2"), "max_position"),
        (dict(position="11", working="0", size="-1"), None),  # reducing from beyond the limit is allowed
        (dict(price="100.5"), None),
        (dict(price="100.51"), "price_band_bps"),
        (dict(price="99.5"), None),
        (dict(price="99.49"), "price_band_bps"),
        (dict(book=None), "market_data"),
        (dict(book=book(asks=(), ts=1000.0)), "market_data"),
    ],
)
def test_each_limit_just_inside_and_just_outside(overrides: dict, broken: str | None) -> None:
    rejection = check(**overrides)
    assert (rejection and rejection.limit) == broken


def test_rejection_names_limit_and_actual_value() -> None:
    rejection = check(position="9", working="0.5", size="1")
    assert (rejection.limit, rejection.limit_value, rejection.actual) == ("max_position", "10", "10.5")
