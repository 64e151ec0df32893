"""Tardis.dev CSV market data: ``incremental_book_L2``, ``trades`` and ``quotes``, plain or gzip.

Parsing a row into a domain record is pure (:func:`parse_book_row`, :func:`parse_trade_row`,
:func:`parse_quote_row`, given the header's column positions); :func:`read_rows` is the shell that
opens a file. Timestamps are integer microseconds since the epoch: ``timestamp`` the exchange's,
``local_timestamp`` the recorder's receive time. Replays order and merge by ``local_timestamp``
(the time the data could have been known), which is also what :class:`~bot.core.types.Trade`'s
``ts`` carries (seconds). Prices and amounts become exact :class:`~decimal.Decimal`.

Formats (https://docs.tardis.dev/downloadable-csv-files):

* ``incremental_book_L2``: exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount
  — ``side`` bid/ask, ``amount`` the new total size at the level (0 deletes it); a run of
  ``is_snapshot`` true rows after non-snapshot rows replaces the whole book.
* ``trades``: exchange,symbol,timestamp,local_timestamp,id,side,price,amount — ``side`` is the
  aggressor's (buy/sell; ``unknown`` rows are skipped).
* ``quotes``: exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount
  — empty fields when a side is empty.
"""

from __future__ import annotations

import csv
import gzip
import heapq
import io
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator, Literal, Sequence, Union

from bot.core.types import Side, Trade

BOOK_COLUMNS = ("symbol", "timestamp", "local_timestamp", "is_snapshot", "side", "price", "amount")
TRADE_COLUMNS = ("symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount")
QUOTE_COLUMNS = ("symbol", "timestamp", "local_timestamp", "ask_amount", "ask_price", "bid_price", "bid_amount")

DataType = Literal["incremental_book_L2", "trades", "quotes"]
DATA_TYPES: tuple[DataType, ...] = ("incremental_book_L2", "trades", "quotes")


class TardisFormatError(ValueError):
    """A file is not in the expected Tardis CSV layout."""


@dataclass(frozen=True, slots=True)
class BookChange:
    """One ``incremental_book_L2`` row: the level ``price`` on ``side`` (BUY = bid) now shows
    ``amount`` (0 = deleted)."""

    symbol: str
    local_us: int
    exchange_us: int
    is_snapshot: bool
    side: Side
    price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class TradePrint:
    """One ``trades`` row; ``trade.ts`` is ``local_us`` in seconds."""

    local_us: int
    exchange_us: int
    trade: Trade

    @property
    def symbol(self) -> str:
        return self.trade.symbol


@dataclass(frozen=True, slots=True)
class Quote:
    """One ``quotes`` row: the best bid and offer (``None`` for an empty side)."""

    symbol: str
    local_us: int
    exchange_us: int
    bid_price: Decimal | None
    bid_amount: Decimal | None
    ask_price: Decimal | None
    ask_amount: Decimal | None


MarketRecord = Union[BookChange, TradePrint, Quote]


def column_index(header: Sequence[str], needed: Sequence[str], what: str) -> tuple[int, ...]:
    """Positions of ``needed`` columns in ``header``; raises :class:`TardisFormatError`."""
    names = [h.strip() for h in header]
    missing = [c for c in needed if c not in names]
    if missing:
        raise TardisFormatError(f"{what}: missing column(s) {', '.join(missing)} (header: {','.join(names)})")
    return tuple(names.index(c) for c in needed)


def _opt(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def parse_book_row(row: Sequence[str], idx: Sequence[int]) -> BookChange:
    s, ts, lts, snap, side, price, amount = (row[i] for i in idx)
    if side == "bid":
        book_side = Side.BUY
    elif side == "ask":
        book_side = Side.SELL
    else:
        raise TardisFormatError(f"book side must be bid or ask (got {side!r})")
    return BookChange(s, int(lts), int(ts), snap == "true", book_side, Decimal(price), Decimal(amount))


def parse_trade_row(row: Sequence[str], idx: Sequence[int]) -> TradePrint | None:
    """``None`` for a trade whose aggressor is unknown."""
    s, ts, lts, trade_id, side, price, amount = (row[i] for i in idx)
    if side not in ("buy", "sell"):
        return None
    local_us = int(lts)
    return TradePrint(local_us, int(ts), Trade(s, trade_id, Decimal(price), Decimal(amount), Side(side), local_us / 1e6))


def parse_quote_row(row: Sequence[str], idx: Sequence[int]) -> Quote:
    s, ts, lts, ask_amount, ask_price, bid_price, bid_amount = (row[i] for i in idx)
    return Quote(s, int(lts), int(ts), _opt(bid_price), _opt(bid_amount), _opt(ask_price), _opt(ask_amount))


_COLUMNS = {"incremental_book_L2": BOOK_COLUMNS, "trades": TRADE_COLUMNS, "quotes": QUOTE_COLUMNS}


def parse_rows(data_type: DataType, lines: Iterable[Sequence[str]], symbols: set[str] | None = None,
               what: str = "data") -> Iterator[MarketRecord]:
    """Records from CSV rows (the header first), keeping only ``symbols`` (all if ``None``)."""
    rows = iter(lines)
    try:
        header = next(rows)
    except StopIteration:
        return
    idx = column_index(header, _COLUMNS[data_type], what)
    sym = idx[0]
    for n, row in enumerate(rows, start=2):
        if not row or (symbols is not None and row[sym] not in symbols):
            continue
        try:
            if data_type == "incremental_book_L2":
                yield parse_book_row(row, idx)
            elif data_type == "trades":
                record = parse_trade_row(row, idx)
                if record is not None:
                    yield record
            else:
                yield parse_quote_row(row, idx)
        except (IndexError, ValueError, ArithmeticError) as exc:
            raise TardisFormatError(f"{what}:{n}: cannot parse row {','.join(row)!r} ({exc})") from None


def open_text(path: Path) -> io.TextIOBase:
    """``path`` as text, gunzipped when it is gzip (by content, whatever its name)."""
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", newline="")  # type: ignore[return-value]
    return open(path, "r", newline="")


def read_rows(data_type: DataType, path: Path, symbols: set[str] | None = None) -> Iterator[MarketRecord]:
    """Stream the records of one Tardis CSV file (plain or gzip)."""
    with open_text(path) as f:
        yield from parse_rows(data_type, csv.reader(f), symbols, str(path))


def find_files(data_dir: Path, data_type: DataType) -> list[Path]:
    """Tardis files of ``data_type`` in ``data_dir``: names like
    ``binance-futures_incremental_book_L2_BTCUSDT.csv.gz``, ``..._2024-08-08_BTCUSDT.csv`` or
    ``x_trades.csv`` (plain or gzip)."""
    pattern = re.compile(rf"(^|_){data_type}(_.*)?\.csv(\.gz)?$")
    return [p for p in sorted(data_dir.iterdir()) if p.is_file() and pattern.search(p.name)]


def local_us(record: MarketRecord) -> int:
    return record.local_us


_ORDER = {TradePrint: 0, BookChange: 1, Quote: 2}


def merge(streams: Iterable[Iterator[MarketRecord]]) -> Iterator[MarketRecord]:
    """One stream ordered by ``local_timestamp``; at equal times, trades before book changes
    before quotes (a depth update reflects the trades that preceded it), then file order."""
    keyed = ((((r.local_us, _ORDER[type(r)]), r) for r in s) for s in streams)
    for _, record in heapq.merge(*keyed, key=lambda kr: kr[0]):
        yield record


class OrderStats:
    """Rows found earlier than a preceding row of the same file (replayed at the later time)."""

    def __init__(self) -> None:
        self.out_of_order = 0


def in_time_order(stream: Iterator[MarketRecord], stats: OrderStats) -> Iterator[MarketRecord]:
    """``stream`` with any row that goes back in ``local_timestamp`` moved to the time of the row
    before it (Tardis files are ordered by it; this only guards a merge against a stray row)."""
    last = -1
    for record in stream:
        if record.local_us < last:
            stats.out_of_order += 1
            record = _at(record, last)
        else:
            last = record.local_us
        yield record


def _at(record: MarketRecord, t_us: int) -> MarketRecord:
    if isinstance(record, TradePrint):
        t = record.trade
        return TradePrint(t_us, record.exchange_us, Trade(t.symbol, t.trade_id, t.price, t.size, t.aggressor, t_us / 1e6))
    if isinstance(record, BookChange):
        r = record
        return BookChange(r.symbol, t_us, r.exchange_us, r.is_snapshot, r.side, r.price, r.amount)
    q = record
    return Quote(q.symbol, t_us, q.exchange_us, q.bid_price, q.bid_amount, q.ask_price, q.ask_amount)
