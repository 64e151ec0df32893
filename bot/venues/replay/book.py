"""An L2 order book rebuilt from Tardis ``incremental_book_L2`` changes (or from ``quotes``).

No I/O: changes go in, :class:`~bot.core.types.Book` snapshots of the best levels come out.
Prices are kept in sorted lists (ascending) next to a price -> size map, so an update costs a
binary search and a snapshot of ``depth`` levels a slice.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from decimal import Decimal

from bot.core.types import Book, Level, Side
from bot.venues.replay.tardis import BookChange, Quote


class L2Book:
    """The displayed book of one instrument; sizes in contracts, prices in quote currency."""

    def __init__(self, symbol: str):
        self.symbol = symbol
        self._sizes: dict[Side, dict[Decimal, Decimal]] = {Side.BUY: {}, Side.SELL: {}}
        self._prices: dict[Side, list[Decimal]] = {Side.BUY: [], Side.SELL: []}  # ascending
        self._in_snapshot = False
        self.snapshots = 0
        """How many snapshots (runs of ``is_snapshot`` rows) have replaced the book."""

    def clear(self) -> None:
        for side in (Side.BUY, Side.SELL):
            self._sizes[side].clear()
            self._prices[side].clear()

    def apply(self, change: BookChange) -> None:
        """Set one level; a snapshot row after non-snapshot rows starts a fresh book."""
        if change.is_snapshot and not self._in_snapshot:
            self.clear()
            self.snapshots += 1
        self._in_snapshot = change.is_snapshot
        self._set(change.side, change.price, change.amount)

    def apply_quote(self, quote: Quote) -> None:
        """A best bid/offer replaces the book: one level a side (for data without L2)."""
        self.clear()
        if quote.bid_price is not None and quote.bid_amount:
            self._set(Side.BUY, quote.bid_price, quote.bid_amount)
        if quote.ask_price is not None and quote.ask_amount:
            self._set(Side.SELL, quote.ask_price, quote.ask_amount)

    def _set(self, side: Side, price: Decimal, amount: Decimal) -> None:
        sizes, prices = self._sizes[side], self._prices[side]
        if amount > 0:
            if price not in sizes:
                insort(prices, price)
            sizes[price] = amount
        elif price in sizes:
            del sizes[price]
            del prices[bisect_left(prices, price)]

    @property
    def ready(self) -> bool:
        """Both sides show at least one level."""
        return bool(self._prices[Side.BUY]) and bool(self._prices[Side.SELL])

    @property
    def best_bid(self) -> Decimal | None:
        prices = self._prices[Side.BUY]
        return prices[-1] if prices else None

    @property
    def best_ask(self) -> Decimal | None:
        prices = self._prices[Side.SELL]
        return prices[0] if prices else None

    @property
    def crossed(self) -> bool:
        bid, ask = self.best_bid, self.best_ask
        return bid is not None and ask is not None and bid >= ask

    def levels(self, side: Side) -> int:
        return len(self._prices[side])

    def size_at(self, side: Side, price: Decimal) -> Decimal:
        return self._sizes[side].get(price, Decimal(0))

    def snapshot(self, depth: int, ts: float) -> Book:
        """The best ``depth`` levels a side as a :class:`Book` stamped ``ts`` (s). Should the book
        cross (stale levels an exchange never deleted), bids at or above the best ask are left
        out of the snapshot (the replayed Binance data never crosses)."""
        bid_prices, ask_prices = self._prices[Side.BUY], self._prices[Side.SELL]
        bids_map, asks_map = self._sizes[Side.BUY], self._sizes[Side.SELL]
        end = bisect_left(bid_prices, ask_prices[0]) if ask_prices else len(bid_prices)
        bids = tuple(Level(p, bids_map[p]) for p in reversed(bid_prices[max(0, end - depth):end]))
        asks = tuple(Level(p, asks_map[p]) for p in ask_prices[:depth])
        return Book(self.symbol, bids, asks, ts)
