"""Bad market data never reaches a decision: bad levels dropped, crossed or locked books refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core.market_data import sanitize

from .support import book


@pytest.mark.parametrize("bids, asks, usable, reason", [
    ((("100", "1"),), (("101", "1"),), True, None),
    ((("NaN", "1"), ("100", "1")), (("101", "1"),), True, "1 bad level(s) dropped"),
    ((("100", "0"), ("99", "-1"), ("98", "1")), (("101", "Infinity"), ("102", "1")), True, "3 bad level(s) dropped"),
    ((("0", "1"),), (("-5", "1"),), False, "no usable level (2 dropped)"),
    ((("101", "1"),), (("100", "1"),), False, "crossed book: best bid 101 >= best ask 100"),
    ((("100", "1"),), (("100", "1"),), False, "locked book: best bid 100 >= best ask 100"),
    ((("NaN", "1"), ("101", "1")), (("101", "1"),), False, "locked book: best bid 101 >= best ask 101"),
])
def test_sanitize(bids, asks, usable: bool, reason: str | None) -> None:
    clean, problem = sanitize(book(bids=bids, asks=asks))
    assert (clean is not None) is usable and problem == reason
    if clean is not None:
        for level in clean.bids + clean.asks:
            assert level.price.is_finite() and level.price > 0 and level.size.is_finite() and level.size > 0
        assert clean.best_bid is None or clean.best_ask is None or clean.best_bid < clean.best_ask


def test_one_sided_book_is_usable() -> None:
    clean, problem = sanitize(book(bids=(("100", "1"),), asks=()))
    assert clean is not None and problem is None and clean.best_bid == Decimal("100")
