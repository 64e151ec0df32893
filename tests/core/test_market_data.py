"""Bad market data never reaches a decision: bad levels dropped, crossed or locked books refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.market_data import sanitize
from bot.core.types import Book, Level

from .support import book


@pytest.mark.parametrize("bids, asks, usable, reason", [
    ((("100", "1"),), (("101", "1"),), True, None),
    ((("NaN", "1"), ("100", "1")), (("101", "1"),), True, "1 bad level(s) dropped"),
    ((("100", "0"), ("99", "-1"), ("98", "1")), (("101", "Infinity"), ("102", "1")), True, "3 bad level(s) dropped"),
    ((("0", "1"),), (("-5", "1"),), False, "no usable level (2 dropped)"),
    ((("101", "1"),), (("100", "1"),), False, "crossed book: best bid 101 >= best ask 100"),
    ((("100", "1"),), (("100", "1"),), False, "locked book: best bid 100 >= best ask 100"),
    ((("NaN", "1"), ("101", "1")), (("101", "1"),), False, "locked book: best bid 101 >= best ask 101"),
    ((), (), False, "no usable level (0 dropped)"),
    ((("sNaN", "1"), ("-Infinity", "1"), ("100", "-0")), (("101", "-NaN"),), False, "no usable level (4 dropped)"),
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


def test_clean_book_is_returned_as_is() -> None:
    clean_book = book(bids=(("100", "1"), ("99", "2")), asks=(("101", "1"),))
    assert sanitize(clean_book) == (clean_book, None) and sanitize(clean_book)[0] is clean_book


def _reference_good_levels(levels: tuple[Level, ...]) -> tuple[Level, ...]:
    """The straightforward filter: the fast one must keep exactly these levels."""
    return tuple(lv for lv in levels if lv.price.is_finite() and lv.size.is_finite() and lv.price > 0 and lv.size > 0)


# few distinct prices, so crossed and locked books are common; specials make bad levels common too
_SPECIALS = ("NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "0", "-0", "-1", "-0.5")
_values = st.one_of(st.sampled_from(_SPECIALS).map(Decimal),
                    st.integers(1, 12).map(Decimal), st.integers(1, 1200).map(lambda n: Decimal(n).scaleb(-2)))
_sides = st.lists(st.builds(Level, _values, _values), max_size=6).map(tuple)


@settings(max_examples=500, deadline=None)
@given(bids=_sides, asks=_sides)
def test_sanitize_keeps_exactly_the_good_levels(bids: tuple[Level, ...], asks: tuple[Level, ...]) -> None:
    raw = Book("BTC-PERP", bids, asks, 1000.0)
    good_bids, good_asks = _reference_good_levels(bids), _reference_good_levels(asks)
    clean, problem = sanitize(raw)
    dropped = len(bids) + len(asks) - len(good_bids) - len(good_asks)
    assert (clean is raw) == (clean is not None and dropped == 0)  # a clean book is not copied
    if clean is not None:
        # compare levels by identity: the kept levels are the very same objects, in the same order
        assert [id(lv) for lv in clean.bids] == [id(lv) for lv in good_bids]
        assert [id(lv) for lv in clean.asks] == [id(lv) for lv in good_asks]
        assert (clean.symbol, clean.ts) == (raw.symbol, raw.ts)
        assert problem == (f"{dropped} bad level(s) dropped" if dropped else None)
    else:
        assert problem is not None
