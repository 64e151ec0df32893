"""Market data hygiene: books the engine may act on. Pure.

A venue (or a recording, or a bug) can deliver levels with NaN, infinite, zero or negative prices
or sizes, or a book whose best bid is at or above its best ask. Bad levels are dropped; a crossed
or locked book is refused outright (the engine keeps its last good book, which then ages into
the stale-data limit, so nothing new is placed on it).
"""

from __future__ import annotations

from dataclasses import replace

from bot.core.types import ZERO, Book, Level


def _good(level: Level) -> bool:
    # finiteness first (ordering a NaN raises); ZERO rather than 0 spares an int conversion per test
    return level.price.is_finite() and level.size.is_finite() and level.price > ZERO and level.size > ZERO


def _good_levels(levels: tuple[Level, ...]) -> tuple[Level, ...]:
    """``levels`` itself when every level is good (the common case: no new tuple), else the good ones."""
    for level in levels:
        price, size = level.price, level.size
        if not (price.is_finite() and size.is_finite() and price > ZERO and size > ZERO):  # _good, inlined
            return tuple(filter(_good, levels))
    return levels


def sanitize(book: Book) -> tuple[Book | None, str | None]:
    """The book without bad levels, or ``None`` and the reason when it cannot be used."""
    bids, asks = _good_levels(book.bids), _good_levels(book.asks)
    dropped = len(book.bids) + len(book.asks) - len(bids) - len(asks)
    if bids and asks and bids[0].price >= asks[0].price:
        kind = "locked" if bids[0].price == asks[0].price else "crossed"
        return None, f"{kind} book: best bid {bids[0].price} >= best ask {asks[0].price}"
    if not bids and not asks:
        return None, f"no usable level ({dropped} dropped)"
    clean = book if dropped == 0 else replace(book, bids=bids, asks=asks)
    return clean, (f"{dropped} bad level(s) dropped" if dropped else None)
