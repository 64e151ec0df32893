"""The replay venue: recorded Tardis market data behind the :class:`~bot.venues.base.Venue` interface.

Time is simulated: :meth:`ReplayVenue.clock` is the ``local_timestamp`` of the data replayed so
far (seconds), and nothing happens between two calls of :meth:`ReplayVenue.step`. Each step is
either one batch of market data with the same ``local_timestamp`` (book changes, trades) or the
arrival of an in-flight order action (order-entry and cancel latency). Our orders are matched by
the same :class:`~bot.venues.simulated.exchange.SimulatedExchange` (and so the same fill model) as
paper mode; the recorded market does not see them.

A driver (``bot.replay``) calls :meth:`step` as fast as it likes, or paced to real time, and hands
the events to the engines; :meth:`events` does the same for a daemon-style consumer. Every order
action and every venue answer is passed to ``recorder("order", {...})`` and every fill to
``recorder("fill", {...})`` (JSON-ready dicts) when a recorder is set.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator, Mapping

from bot.core.fill_model import QueueModel
from bot.core.types import Book, Fill, InstrumentSpec, OrderUpdate, Trade
from bot.venues.base import OrderRequest, VenueError, VenueEvent, VenueOrder
from bot.venues.replay.book import L2Book
from bot.venues.replay.config import ReplayVenueConfig
from bot.venues.replay.tardis import (
    BookChange, MarketRecord, OrderStats, TradePrint, find_files, in_time_order, merge, read_rows,
)
from bot.venues.replay.units import AmountScale, AmountUnit, in_contracts
from bot.venues.simulated.exchange import SimulatedExchange

Recorder = Callable[[str, dict[str, Any]], None]


class ReplayVenue:
    """Recorded market data of ``data_dir`` with a simulated account on top. The recording's
    amounts are in ``amount_units[symbol]`` (default the market's own unit: coins if linear, USD if
    inverse) and are converted to contracts as they are read (:mod:`bot.venues.replay.units`)."""

    name = "replay"
    supports_amend = True
    books_include_own_orders = False

    def __init__(
        self,
        specs: dict[str, InstrumentSpec],
        data_dir: Path,
        *,
        queue_model: QueueModel = QueueModel("power"),
        entry_latency_s: float = 0.05,
        cancel_latency_s: float = 0.05,
        book_depth: int = 50,
        amount_units: Mapping[str, AmountUnit] | None = None,
        recorder: Recorder | None = None,
    ):
        self.specs = specs
        self.scales = {s: AmountScale.for_spec(spec, (amount_units or {}).get(s)) for s, spec in specs.items()}
        self.data_dir = Path(data_dir)
        self.book_depth = book_depth
        self.recorder = recorder
        self.exchange = SimulatedExchange(specs, queue_model=queue_model, entry_latency_s=entry_latency_s,
                                          cancel_latency_s=cancel_latency_s)
        self._builders: dict[str, L2Book] = {}
        self._quote_books: set[str] = set()
        self._books: dict[str, Book] = {}
        self._stream: Iterator[MarketRecord] = iter(())
        self._next: MarketRecord | None = None
        self._now = 0.0
        self._outbox: list[OrderUpdate] = []
        self.order_stats = OrderStats()
        self.started_ts: float | None = None
        self.stats = {"book_changes": 0, "trades": 0, "quotes": 0, "batches": 0, "latency_steps": 0}

    @classmethod
    def from_config(cls, config: ReplayVenueConfig, data_dir: Path, recorder: Recorder | None = None) -> ReplayVenue:
        return cls(config.specs(), data_dir, queue_model=config.queue.queue_model(),
                   entry_latency_s=config.order_entry_latency_ms / 1000,
                   cancel_latency_s=config.cancel_latency_ms / 1000, book_depth=config.book_depth,
                   amount_units=config.amount_units(), recorder=recorder)

    # the simulated clock and stepping ------------------------------------------------------------
    def clock(self) -> float:
        """Simulated time (s since the epoch): the ``local_timestamp`` replayed so far."""
        return self._now

    def next_time(self) -> float | None:
        """When the next step happens (s), ``None`` at the end of the data and of the actions."""
        data = self._next.local_us / 1e6 if self._next is not None else None
        due = self.exchange.next_due()
        if data is None:
            return due
        return data if due is None else min(data, due)

    def step(self) -> list[VenueEvent] | None:
        """Advance to the next batch of data or in-flight action; its events (books, trades, our
        order updates), or ``None`` when everything has been replayed."""
        record = self._next
        due = self.exchange.next_due()
        if record is None and due is None:
            return None
        if due is not None and (record is None or due <= record.local_us / 1e6):
            self._now = max(self._now, due)
            self.stats["latency_steps"] += 1
            updates = self.exchange.advance(due)
            self._record_updates(updates)
            return list(updates)
        assert record is not None
        batch_us = record.local_us
        self._now = batch_us / 1e6
        changed: set[str] = set()
        trades: dict[str, list[Trade]] = {}
        while record is not None and record.local_us == batch_us:
            if isinstance(record, BookChange):
                self._builders[record.symbol].apply(record)
                changed.add(record.symbol)
                self.stats["book_changes"] += 1
            elif isinstance(record, TradePrint):
                trades.setdefault(record.symbol, []).append(record.trade)
                self.stats["trades"] += 1
            elif record.symbol in self._quote_books:
                self._builders[record.symbol].apply_quote(record)
                changed.add(record.symbol)
                self.stats["quotes"] += 1
            record = next(self._stream, None)
        self._next = record
        self.stats["batches"] += 1
        events: list[VenueEvent] = []
        for symbol in sorted(changed | set(trades)):
            builder = self._builders[symbol]
            if symbol in changed and builder.ready:
                self._books[symbol] = builder.snapshot(self.book_depth, self._now)
                events.append(self._books[symbol])
            prints = trades.get(symbol, [])
            events.extend(prints)
            book = self._books.get(symbol)
            if book is not None:
                updates = self.exchange.on_market(book, prints)
                self._record_updates(updates)
                events.extend(updates)
        return events

    def take_updates(self) -> list[OrderUpdate]:
        """Updates produced by order actions beyond their direct answers (an IOC's fills and final
        status), oldest first; a driver hands them to the engine right after the action."""
        out, self._outbox = self._outbox, []
        return out

    # Venue interface --------------------------------------------------------------------------
    async def connect(self, symbols: list[str]) -> None:
        """Open the recording for ``symbols`` and replay it up to the first two-sided book of each."""
        unknown = sorted(set(symbols) - set(self.specs))
        if unknown:
            raise VenueError(f"replay venue has no market {', '.join(unknown)} (add it under venue.markets)")
        if not self.data_dir.is_dir():
            raise VenueError(f"replay data directory {self.data_dir} does not exist")
        streams = []
        for symbol in symbols:
            self._builders[symbol] = L2Book(symbol)
            streams += [in_contracts(s, self.scales[symbol]) for s in self._recorded(symbol)]
        self._stream = merge(in_time_order(s, self.order_stats) for s in streams)
        self._next = next(self._stream, None)
        while not all(symbol in self._books for symbol in symbols):
            if self.step() is None:
                missing = [s for s in symbols if s not in self._books]
                raise VenueError(f"the recording never shows a two-sided book for {', '.join(missing)}")
        self.started_ts = self._now

    def _recorded(self, symbol: str) -> list[Iterator[MarketRecord]]:
        """The recording's streams for ``symbol`` (amounts as recorded): its ``incremental_book_L2``
        files, else its ``quotes`` files (the book is then the best bid and offer), and its trades."""
        book_files = _files_for(self.data_dir, "incremental_book_L2", symbol)
        quote_files = _files_for(self.data_dir, "quotes", symbol)
        if book_files:
            streams = [read_rows("incremental_book_L2", p, {symbol}) for p in book_files]
        elif quote_files:
            self._quote_books.add(symbol)
            streams = [read_rows("quotes", p, {symbol}) for p in quote_files]
        else:
            raise VenueError(f"no incremental_book_L2 or quotes file for {symbol} in {self.data_dir}")
        return streams + [read_rows("trades", p, {symbol}) for p in _files_for(self.data_dir, "trades", symbol)]

    async def close(self) -> None:
        self._stream = iter(())
        self._next = None

    async def events(self, realtime: bool = False) -> AsyncIterator[VenueEvent]:
        """Every event to the end of the recording, as fast as possible or paced to real time."""
        wall0, sim0 = time.monotonic(), self._now
        while True:
            for update in self.take_updates():
                yield update
            when = self.next_time()
            if when is None:
                return
            if realtime:
                await asyncio.sleep(max(0.0, (when - sim0) - (time.monotonic() - wall0)))
            for event in self.step() or []:
                yield event

    async def instrument(self, symbol: str) -> InstrumentSpec:
        return self.specs[symbol]

    async def fetch_book(self, symbol: str, depth: int = 10) -> Book:
        builder = self._builders.get(symbol)
        if builder is None or not builder.ready:
            raise VenueError(f"no book for {symbol} yet")
        return builder.snapshot(depth, self._books[symbol].ts if symbol in self._books else self._now)

    async def fetch_position(self, symbol: str) -> Decimal:
        return self.exchange.positions[symbol]

    async def fetch_balances(self) -> dict[str, Decimal]:
        balances: dict[str, Decimal] = {}
        for f in self.exchange.fills:
            balances[f.fee_currency] = balances.get(f.fee_currency, Decimal(0)) - f.fee
        return balances

    async def fetch_open_orders(self, symbol: str) -> list[VenueOrder]:
        return self.exchange.open_orders(symbol)

    async def fetch_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        return self.exchange.order(client_order_id)

    async def fetch_fills(self, symbol: str, since_ts: float) -> list[Fill]:
        return [f for f in self.exchange.fills if f.symbol == symbol and f.ts >= since_ts]

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        book = self._books.get(request.symbol)
        if book is None:
            raise VenueError(f"no book for {request.symbol}")
        queue = None if request.time_in_force == "IOC" else book.size_at(request.side, request.price)
        record = {"action": "place", "client_order_id": request.client_order_id, "side": request.side.value,
                  "price": request.price, "size": request.size, "time_in_force": request.time_in_force,
                  "post_only": request.post_only, "queue_ahead": queue}
        return self._act(request.symbol, record, lambda: self.exchange.place(request, book, self._now))

    async def amend_order(self, symbol: str, client_order_id: str, price: Decimal) -> OrderUpdate:
        book = self._books[symbol]
        order = self.exchange.order(client_order_id)
        record = {"action": "amend", "client_order_id": client_order_id, "side": order.side.value, "price": price,
                  "size": order.size - order.filled, "queue_ahead": book.size_at(order.side, price)}
        return self._act(symbol, record, lambda: self.exchange.amend(client_order_id, price, book, self._now))

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderUpdate:
        record: dict[str, Any] = {"action": "cancel", "client_order_id": client_order_id,
                                  "queue_ahead": self.exchange.queue_ahead(client_order_id)}
        try:
            order = self.exchange.order(client_order_id)
            record.update(side=order.side.value, price=order.price, size=order.size - order.filled)
        except VenueError:
            pass
        return self._act(symbol, record, lambda: self.exchange.cancel(client_order_id, self._now))

    async def cancel_all(self, symbol: str | None = None) -> list[OrderUpdate]:
        orders = self.exchange.open_orders(symbol)
        return [await self.cancel_order(o.symbol, o.client_order_id) for o in orders]

    # recording ----------------------------------------------------------------------------------
    def _act(self, symbol: str, record: dict[str, Any], action: Callable[[], OrderUpdate]) -> OrderUpdate:
        record = {"ts": self._now, "symbol": symbol, "kind": "request", **record}
        try:
            update = action()
        except VenueError as exc:
            self._emit("order", {**record, "status": "rejected", "reason": str(exc)})
            raise
        self._emit("order", {**record, "status": update.status.value, "reason": update.reason})
        follow_ups = self.exchange.take_updates()
        self._record_updates([update, *follow_ups], skip_first_answer=True)
        self._outbox.extend(follow_ups)
        return update

    def _record_updates(self, updates: list[OrderUpdate], skip_first_answer: bool = False) -> None:
        if self.recorder is None:
            return
        for i, u in enumerate(updates):
            if u.fill is not None:
                self._emit("fill", _fill_record(u.fill, self.exchange.fill_causes.get(u.fill.trade_id)))
            if skip_first_answer and i == 0 and u.fill is None:
                continue  # the request line already carries the direct answer
            if u.fill is None or u.status.value != "open":
                self._emit("order", {"ts": u.ts, "symbol": u.symbol, "kind": "venue",
                                     "client_order_id": u.client_order_id, "status": u.status.value,
                                     "reason": u.reason, "filled": u.filled,
                                     "queue_ahead": self.exchange.queue_ahead(u.client_order_id)})

    def _emit(self, kind: str, record: dict[str, Any]) -> None:
        if self.recorder is not None:
            self.recorder(kind, record)


def _fill_record(fill: Fill, cause: Trade | None) -> dict[str, Any]:
    trade = None if cause is None else {"id": cause.trade_id, "price": cause.price, "size": cause.size,
                                        "aggressor": cause.aggressor.value, "ts": cause.ts}
    return {"ts": fill.ts, "symbol": fill.symbol, "client_order_id": fill.client_order_id, "fill_id": fill.trade_id,
            "side": fill.side.value, "price": fill.price, "size": fill.size, "liquidity": fill.liquidity,
            "fee": fill.fee, "fee_currency": fill.fee_currency, "trade": trade}


def _files_for(data_dir: Path, data_type: str, symbol: str) -> list[Path]:
    """Files of ``data_type`` named for ``symbol`` (``..._SYMBOL.csv[.gz]``), else every file of
    that type (its rows are filtered by the symbol column)."""
    files = find_files(data_dir, data_type)  # type: ignore[arg-type]
    named = [p for p in files if p.name.split(".csv")[0].endswith(f"_{symbol}")]
    return named or files
