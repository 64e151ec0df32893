"""The L2 book builder: levels set and deleted, snapshots, depth; and on the recording, the
rebuilt top of book against the exchange's own best bid/offer stream."""

from __future__ import annotations

import bisect
from decimal import Decimal

from bot.core.types import Level, Side
from bot.venues.replay.book import L2Book
from bot.venues.replay.tardis import BookChange, Quote, read_rows

from .support import BOOK_FILE, QUOTES_FILE, SYMBOL

D = Decimal


def change(side: str, price: str, amount: str, snapshot: bool = False, t: int = 1) -> BookChange:
    return BookChange(SYMBOL, t, t, snapshot, Side.BUY if side == "bid" else Side.SELL, D(price), D(amount))


def test_levels_are_set_replaced_and_deleted() -> None:
    book = L2Book(SYMBOL)
    for c in [change("bid", "100", "1"), change("bid", "99.9", "2"), change("ask", "100.2", "3"),
              change("ask", "100.1", "4"), change("bid", "100", "1.5"), change("ask", "100.1", "0"),
              change("bid", "98", "0")]:  # deleting an absent level is harmless
        book.apply(c)
    snap = book.snapshot(5, ts=7.0)
    assert snap.bids == (Level(D("100"), D("1.5")), Level(D("99.9"), D("2")))
    assert snap.asks == (Level(D("100.2"), D("3")),)
    assert snap.ts == 7.0 and snap.symbol == SYMBOL
    assert (book.best_bid, book.best_ask, book.ready, book.crossed) == (D("100"), D("100.2"), True, False)


def test_snapshot_depth_keeps_the_best_levels() -> None:
    book = L2Book(SYMBOL)
    for i in range(10):
        book.apply(change("bid", str(100 - i), "1"))
        book.apply(change("ask", str(101 + i), "1"))
    snap = book.snapshot(3, ts=0.0)
    assert [lv.price for lv in snap.bids] == [D(100), D(99), D(98)]
    assert [lv.price for lv in snap.asks] == [D(101), D(102), D(103)]


def test_a_new_snapshot_replaces_the_book() -> None:
    book = L2Book(SYMBOL)
    book.apply(change("bid", "100", "1", snapshot=True))
    book.apply(change("ask", "101", "1", snapshot=True))
    book.apply(change("bid", "99", "1"))
    book.apply(change("bid", "98", "5", snapshot=True, t=2))  # a fresh snapshot begins
    book.apply(change("ask", "99.5", "5", snapshot=True, t=2))
    snap = book.snapshot(10, ts=0.0)
    assert snap.bids == (Level(D(98), D(5)),) and snap.asks == (Level(D("99.5"), D(5)),)
    assert book.snapshots == 2


def test_a_crossed_book_hides_the_crossed_bids() -> None:
    book = L2Book(SYMBOL)
    for c in [change("bid", "101", "1"), change("bid", "100", "1"), change("ask", "100.5", "1")]:
        book.apply(c)
    assert book.crossed
    assert [lv.price for lv in book.snapshot(5, 0.0).bids] == [D(100)]


def test_quotes_make_a_one_level_book() -> None:
    book = L2Book(SYMBOL)
    book.apply_quote(Quote(SYMBOL, 1, 1, D("100"), D("2"), D("100.1"), D("3")))
    book.apply_quote(Quote(SYMBOL, 2, 2, D("100.1"), D("1"), None, None))
    assert not book.ready and book.best_bid == D("100.1") and book.best_ask is None


def test_rebuilt_top_of_book_matches_the_exchanges_best_bid_offer() -> None:
    """After each depth update (by exchange time), the rebuilt best bid and ask equal those of
    the bookTicker stream at the same exchange time: an independent check of snapshot + diffs."""
    quotes = list(read_rows("quotes", QUOTES_FILE))
    times = [q.exchange_us for q in quotes]
    book = L2Book(SYMBOL)
    checked = agreed = 0
    last: int | None = None

    def check() -> None:
        nonlocal checked, agreed
        i = bisect.bisect_right(times, last) - 1
        if not book.ready or i < 0:
            return
        same_time = [q for q in quotes[max(0, i - 10):i + 1] if q.exchange_us == times[i]]
        checked += 1
        agreed += any((book.best_bid, book.best_ask) == (q.bid_price, q.ask_price) for q in same_time)

    for row in read_rows("incremental_book_L2", BOOK_FILE):
        if last is not None and row.exchange_us != last:
            check()
        book.apply(row)
        last = row.exchange_us
    check()
    assert checked > 1000
    assert agreed / checked > 0.99
    assert book.levels(Side.BUY) > 1000 and not book.crossed
