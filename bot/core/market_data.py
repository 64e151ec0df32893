"""Market data hygiene: books the engine may act on. Pure.

A venue (or a recording, or a bug) can deliver levels with NaN, infinite, zero or negative prices
or sizes, or a book whose best bid is at or above its best ask. Bad levels are dropped; a crossed
or locked book is refused outright (the engine keeps its last good book, which then ages into
the stale-data limit, so nothing new is placed on it).
"""

from __future__ import annotations

from dataclasses import replace

from bot.core.types import Book, Level


def _good(level: Level) -> bool:
    return level.price.is_finite() and level.size.is_finite() and level.price > 0 and level.size > 0


def sanitize(book: Book) -> tuple[Book | None, str | None]:
    """The book without bad levels, or ``None`` and the reason when it cannot be used."""
    bids = tuple(lv for lv in book.bids if _good(lv))
    asks = tuple(lv for lv in book.asks if _good(lv))
    dropped = len(book.bids) + len(book.asks) - len(bids) - len(asks)
    if bids and asks and bids[0].price >= asks[0].price:
        kind = "locked" if bids[0].price == asks[0].price else "crossed"
        return None, f"{kind} book: best bid {bids[0].price} >= best ask {asks[0].price}"
    if not bids and not asks:
        return None, f"no usable level ({dropped} dropped)"
    clean = book if dropped == 0 else replace(book, bids=bids, asks=asks)
    return clean, (f"{dropped} bad level(s) dropped" if dropped else None)
