"""``scalebot record``: a venue's live book and trade streams written as Tardis.dev CSV files, the
layouts the replay venue reads (:mod:`bot.venues.replay.tardis`), so users can replay their own markets.

Per instrument, in ``out``:

* ``{exchange}_incremental_book_L2_{SYMBOL}.csv.gz`` —
  ``exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount``: the whole book as
  ``is_snapshot`` true rows when the stream (re)starts, then per update the levels that changed
  (``amount`` the new size, 0 deletes the level); ``side`` bid/ask.
* ``{exchange}_trades_{SYMBOL}.csv.gz`` —
  ``exchange,symbol,timestamp,local_timestamp,id,side,price,amount``; ``side`` is the aggressor's
  (buy/sell, ``unknown`` when the venue does not say).

``exchange`` is Tardis's name (``deribit``, ``binance-futures``), ``SYMBOL`` the venue's instrument
id (``BTC-PERPETUAL``, ``BTCUSDT``). ``timestamp`` is the venue's time and ``local_timestamp`` the
time the update reached us, both integer microseconds since the epoch; prices are quote currency
and amounts the venue's own unit (Deribit perpetuals: USD; Binance USDⓈ-M: coins), as in Tardis files.

Streams come through ccxt.pro (``watch_order_book``, ``watch_trades``; public data, no keys), with
the venue adapter's exchange classes, test network and endpoint overrides
(:func:`bot.venues.ccxt.venue.build_exchange`). ccxt hands out whole books, so the changes are the
differences between successive books; several venue messages that arrive between two reads
become one update. On any stream error the book is dropped and, once resubscribed, written again
as a snapshot (the replay then starts from it); trades missed while disconnected are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import gzip
import io
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Literal

import ccxt

from bot.errors import ConfigError, VenueUnavailable
from bot.log import get_logger
from bot.venues.base import VenueError
from bot.venues.ccxt.config import BackoffConfig, CcxtVenueConfig, UrlOverrides
from bot.venues.ccxt.errors import Action
from bot.venues.ccxt.streams import backoff_s, watch_forever
from bot.venues.ccxt.venue import build_exchange

BOOK_HEADER = ("exchange", "symbol", "timestamp", "local_timestamp", "is_snapshot", "side", "price", "amount")
TRADE_HEADER = ("exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount")
TARDIS_EXCHANGE = {"deribit": "deribit", "binanceusdm": "binance-futures"}
MAX_SEEN_TRADES = 10_000

Exchange = Literal["deribit", "binanceusdm"]


def book_path(out: Path, exchange: str, symbol: str) -> Path:
    return Path(out) / f"{TARDIS_EXCHANGE[exchange]}_incremental_book_L2_{_safe(symbol)}.csv.gz"


def trades_path(out: Path, exchange: str, symbol: str) -> Path:
    return Path(out) / f"{TARDIS_EXCHANGE[exchange]}_trades_{_safe(symbol)}.csv.gz"


def _safe(symbol: str) -> str:
    return symbol.replace("/", "-").replace(":", "-")


def number(value: Any) -> str:
    """A price or amount as plain decimal text (``60000``, ``60000.5``, ``0.001``; never ``6E+4``)."""
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    text = format(d.normalize(), "f")
    return "0" if text in ("-0", "") else text


@dataclass
class BookDiffer:
    """Successive whole books in, ``(side, price, amount)`` Tardis rows out."""

    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)

    def snapshot(self, orderbook: Any) -> list[tuple[str, Any, Any]]:
        """Every level of ``orderbook`` (best first, bids then asks); it becomes the reference."""
        self.bids, self.asks = _levels(orderbook["bids"]), _levels(orderbook["asks"])
        return [("bid", p, a) for p, a in self.bids.items()] + [("ask", p, a) for p, a in self.asks.items()]

    def changes(self, orderbook: Any) -> list[tuple[str, Any, Any]]:
        """The levels whose size differs from the previous book (0 = gone)."""
        rows: list[tuple[str, Any, Any]] = []
        for side, old, levels in (("bid", self.bids, orderbook["bids"]), ("ask", self.asks, orderbook["asks"])):
            new = _levels(levels)
            rows += [(side, p, a) for p, a in new.items() if old.get(p) != a]
            rows += [(side, p, 0) for p in old if p not in new]
            if side == "bid":
                self.bids = new
            else:
                self.asks = new
        return rows


def _levels(levels: Any) -> dict[float, float]:
    """price -> amount of a ccxt book side (``[price, amount]`` or ``[price, amount, count]``)."""
    return {level[0]: level[1] for level in levels if level[1]}


class _CsvGz:
    """A gzip CSV file written row by row, flushed (sync flush) every ``flush_s``."""

    def __init__(self, path: Path, header: tuple[str, ...], flush_s: float):
        self.path = path
        self._raw = gzip.open(path, "wb")
        self._text = io.TextIOWrapper(self._raw, encoding="utf-8", newline="")
        self._csv = csv.writer(self._text, lineterminator="\n")
        self._csv.writerow(header)
        self._flush_s = flush_s
        self._flushed = time.monotonic()
        self._last_local_us = 0
        self.rows = 0

    def local_us(self, now_us: int) -> int:
        """Receive times never go back within a file (Tardis files are ordered by them)."""
        self._last_local_us = max(self._last_local_us, now_us)
        return self._last_local_us

    def write(self, rows: list[tuple]) -> None:
        self._csv.writerows(rows)
        self.rows += len(rows)
        if time.monotonic() - self._flushed >= self._flush_s:
            self._text.flush()
            self._flushed = time.monotonic()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._text.close()   # closes the gzip stream too (trailer written)


@dataclass
class RecordStats:
    """What a recording wrote, per instrument (venue ids)."""

    files: list[Path] = field(default_factory=list)
    book_rows: dict[str, int] = field(default_factory=dict)
    trade_rows: dict[str, int] = field(default_factory=dict)
    snapshots: dict[str, int] = field(default_factory=dict)


class Recorder:
    """Records ``symbols`` (venue ids or ccxt unified symbols) of ``exchange`` into ``out``."""

    def __init__(self, exchange: Exchange, symbols: list[str], out: str | Path, *, testnet: bool = False,
                 urls: UrlOverrides | dict | None = None, reconnect: BackoffConfig | dict | None = None,
                 flush_s: float = 5.0, clock: Callable[[], float] = time.time):
        if exchange not in TARDIS_EXCHANGE:
            raise ConfigError(f"record: unknown venue {exchange!r} (expected one of {', '.join(TARDIS_EXCHANGE)})")
        if not symbols:
            raise ConfigError("record: no --symbols given")
        self.exchange_id = exchange
        self.symbols = list(dict.fromkeys(symbols))
        self.out = Path(out)
        fields: dict[str, Any] = {"exchange": exchange, "testnet": testnet, "urls": urls}
        if reconnect is not None:
            fields["reconnect"] = reconnect
        self.cfg = CcxtVenueConfig.model_validate(fields)
        self._flush_s = flush_s
        self._clock = clock
        self._log = get_logger(recorder=exchange)
        self._rng = random.Random()
        self.stats = RecordStats()
        self.books: dict[str, BookDiffer] = {}      # venue id -> the book as last written
        self._files: list[_CsvGz] = []
        self.md: Any = None

    async def run(self, *, seconds: float | None = None, stop: asyncio.Event | None = None) -> RecordStats:
        """Record until ``seconds`` have passed or ``stop`` is set (or forever); closes everything."""
        tasks: list[asyncio.Task] = []
        try:
            self.md = build_exchange(self.cfg)
            ids = await self._resolve()
            self._open_files(ids)
            for unified, venue_id in ids.items():
                tasks.append(asyncio.create_task(self._book_loop(unified, venue_id), name=f"record:book:{venue_id}"))
                tasks.append(asyncio.create_task(self._trades_loop(unified, venue_id),
                                                 name=f"record:trades:{venue_id}"))
            self._log.info("record.started", venue=self.exchange_id, symbols=list(ids.values()),
                           files=[str(f.path) for f in self._files], seconds=seconds)
            waiters = [asyncio.create_task((stop or asyncio.Event()).wait())]   # no stop: until cancelled
            if seconds is not None:
                waiters.append(asyncio.create_task(asyncio.sleep(seconds)))
            try:
                await asyncio.wait([*waiters, *tasks], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
            for task in tasks:   # a stream loop never ends by itself: if one did, say why
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.md is not None:
                with contextlib.suppress(Exception):
                    await self.md.close()
            for f in self._files:
                f.close()
            if self._files:
                self._log.info("record.stopped", book_rows=self.stats.book_rows, trade_rows=self.stats.trade_rows,
                               snapshots=self.stats.snapshots)
        return self.stats

    async def _resolve(self) -> dict[str, str]:
        """ccxt unified symbol -> venue id for every requested symbol."""
        try:
            await self.md.load_markets()
        except ccxt.BaseError as exc:
            raise VenueUnavailable(f"record: cannot load {self.exchange_id} markets ({type(exc).__name__}: {exc})") \
                from None
        ids: dict[str, str] = {}
        unknown = []
        for symbol in self.symbols:
            market = (self.md.markets or {}).get(symbol)
            if market is None:
                found = (self.md.markets_by_id or {}).get(symbol)
                market = found[0] if found else None
            if market is None:
                unknown.append(symbol)
            else:
                ids[market["symbol"]] = market["id"]
        if unknown:
            raise ConfigError(f"record: {self.exchange_id} has no instrument {', '.join(unknown)}")
        return ids

    def _open_files(self, ids: dict[str, str]) -> None:
        paths = [p for venue_id in ids.values()
                 for p in (book_path(self.out, self.exchange_id, venue_id), trades_path(self.out, self.exchange_id,
                                                                                         venue_id))]
        existing = [str(p) for p in paths if p.exists()]
        if existing:
            raise ConfigError(f"record: {', '.join(existing)} already exist(s); choose another --out or move them")
        self.out.mkdir(parents=True, exist_ok=True)
        for path in paths:
            header = BOOK_HEADER if "_incremental_book_L2_" in path.name else TRADE_HEADER
            self._files.append(_CsvGz(path, header, self._flush_s))
        self.stats.files = paths

    def _file(self, path: Path) -> _CsvGz:
        return next(f for f in self._files if f.path == path)

    def _now_us(self) -> int:
        return int(self._clock() * 1_000_000)

    # streams ----------------------------------------------------------------------------------
    async def _stream(self, name: str, venue_id: str, watch: Callable[[], Any], handle: Callable[[Any], None],
                      on_error: Callable[[Action], Any]) -> None:
        async def failed(action: Action, error: BaseException) -> None:
            await on_error(action)

        await watch_forever(watch, handle, failed, lambda attempt: backoff_s(self.cfg.reconnect, attempt, self._rng),
                            self._log, events=("record.stream_error", "record.message_failed"), stream=name,
                            instrument=venue_id)

    async def _book_loop(self, unified: str, venue_id: str) -> None:
        out = self._file(book_path(self.out, self.exchange_id, venue_id))
        exchange = TARDIS_EXCHANGE[self.exchange_id]
        differ = self.books[venue_id] = BookDiffer()
        state: dict[str, Any] = {"book": None}       # the ccxt book object the differ follows
        self.stats.book_rows[venue_id] = 0
        self.stats.snapshots[venue_id] = 0

        def handle(orderbook: Any) -> None:
            local = out.local_us(self._now_us())
            stamp = orderbook.get("timestamp")
            ts = int(stamp) * 1000 if stamp else local
            if orderbook is not state["book"]:       # first book, or ccxt started a new one: a snapshot
                rows = differ.snapshot(orderbook)
                if not rows:
                    return                           # an empty book is no snapshot: wait for levels
                state["book"] = orderbook
                snapshot = "true"
                self.stats.snapshots[venue_id] += 1
            else:
                rows = differ.changes(orderbook)
                snapshot = "false"
            out.write([(exchange, venue_id, ts, local, snapshot, side, number(p), number(a)) for side, p, a in rows])
            self.stats.book_rows[venue_id] += len(rows)

        async def on_error(action: Action) -> None:
            state["book"] = None                     # the next book is written as a snapshot
            self.md.orderbooks.pop(unified, None)
            if hasattr(self.md, "book_change_ids"):  # the adapter's Deribit sequencing
                self.md.book_change_ids.pop(unified, None)
                self.md.book_gaps.pop(unified, None)
            if action is Action.RESYNC_BOOK:
                await self._reset_ws()

        async def watch() -> Any:
            gap = getattr(self.md, "book_gaps", {}).pop(unified, None)
            if gap is not None:
                raise gap
            return await self.md.watch_order_book(unified)

        await self._stream("book", venue_id, watch, handle, on_error)

    async def _trades_loop(self, unified: str, venue_id: str) -> None:
        out = self._file(trades_path(self.out, self.exchange_id, venue_id))
        exchange = TARDIS_EXCHANGE[self.exchange_id]
        seen: OrderedDict[str, None] = OrderedDict()
        self.stats.trade_rows[venue_id] = 0

        def handle(trades: Any) -> None:
            local = out.local_us(self._now_us())
            rows = []
            for trade in trades:
                key = str(trade.get("id"))
                if key in seen or trade.get("price") is None or trade.get("amount") is None:
                    continue
                seen[key] = None
                while len(seen) > MAX_SEEN_TRADES:
                    seen.popitem(last=False)
                side = trade.get("side") if trade.get("side") in ("buy", "sell") else "unknown"
                stamp = trade.get("timestamp")
                rows.append((exchange, venue_id, int(stamp) * 1000 if stamp else local, local, key, side,
                             number(trade["price"]), number(trade["amount"])))
            out.write(rows)
            self.stats.trade_rows[venue_id] += len(rows)

        async def on_error(action: Action) -> None:
            return None

        await self._stream("trades", venue_id, lambda: self.md.watch_trades(unified), handle, on_error)

    async def _reset_ws(self) -> None:
        """Close the websocket clients: every stream resubscribes (fresh book snapshots)."""
        for url, client in list(self.md.clients.items()):
            with contextlib.suppress(Exception):
                await client.close()
            self.md.clients.pop(url, None)
        self.md.orderbooks.clear()
        if hasattr(self.md, "book_change_ids"):
            self.md.book_change_ids.clear()


async def record(exchange: Exchange, symbols: list[str], out: str | Path, *, seconds: float | None = None,
                 testnet: bool = False, urls: UrlOverrides | dict | None = None, stop: asyncio.Event | None = None,
                 reconnect: BackoffConfig | dict | None = None) -> RecordStats:
    """Record ``symbols`` of ``exchange`` into Tardis CSV files in ``out`` (see the module doc)."""
    try:
        recorder = Recorder(exchange, symbols, out, testnet=testnet, urls=urls, reconnect=reconnect)
        return await recorder.run(seconds=seconds, stop=stop)
    except VenueError as exc:   # e.g. no test network for the venue in ccxt
        raise VenueUnavailable(f"record: {exc}") from None
