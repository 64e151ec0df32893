"""``scalebot record`` against the local venues: what it writes must read back, through the replay
venue's Tardis readers, as the venue's book and trades."""

from __future__ import annotations

import asyncio
import csv
import gzip
import time
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.types import Side
from bot.errors import ConfigError
from bot.record import BOOK_HEADER, TRADE_HEADER, BookDiffer, Recorder, book_path, number, trades_path
from tests.venues.conftest import eventually
from tests.venues.servers.binance import BinanceServer
from tests.venues.servers.deribit import DeribitServer

try:  # the replay venue's readers (being finished elsewhere); plain csv otherwise
    from bot.venues.replay.book import L2Book
    from bot.venues.replay.tardis import read_rows
except ImportError:  # pragma: no cover
    L2Book = read_rows = None

PERP = "BTC-PERPETUAL"
FAST = {"initial_ms": 20, "max_ms": 200}


def rebuild_book(path: Path) -> tuple[list, list, int, list[int]]:
    """(bids best first, asks best first, snapshots, exchange timestamps) from a book file."""
    if read_rows is not None:
        book = L2Book("x")
        stamps = []
        for change in read_rows("incremental_book_L2", path):
            book.apply(change)
            stamps.append(change.exchange_us)
        sizes = book._sizes
        bids = sorted(((float(p), float(a)) for p, a in sizes[Side.BUY].items()), reverse=True)
        asks = sorted((float(p), float(a)) for p, a in sizes[Side.SELL].items())
        return bids, asks, book.snapshots, stamps
    levels: dict[str, dict[float, float]] = {"bid": {}, "ask": {}}
    snapshots, in_snapshot, stamps = 0, False, []
    with gzip.open(path, "rt", newline="") as f:
        for row in csv.DictReader(f):
            snap = row["is_snapshot"] == "true"
            if snap and not in_snapshot:
                levels, snapshots = {"bid": {}, "ask": {}}, snapshots + 1
            in_snapshot = snap
            price, amount = float(row["price"]), float(row["amount"])
            if amount:
                levels[row["side"]][price] = amount
            else:
                levels[row["side"]].pop(price, None)
            stamps.append(int(row["timestamp"]))
    return (sorted(levels["bid"].items(), reverse=True), sorted(levels["ask"].items()), snapshots, stamps)


def read_trades(path: Path) -> list[tuple[str, str, float, float, int, int]]:
    """(id, aggressor, price, amount, exchange µs, local µs) per row."""
    if read_rows is not None:
        return [(t.trade.trade_id, t.trade.aggressor.value, float(t.trade.price), float(t.trade.size), t.exchange_us,
                 t.local_us) for t in read_rows("trades", path)]
    with gzip.open(path, "rt", newline="") as f:
        return [(r["id"], r["side"], float(r["price"]), float(r["amount"]), int(r["timestamp"]),
                 int(r["local_timestamp"])) for r in csv.DictReader(f)]


def header(path: Path) -> tuple[str, ...]:
    with gzip.open(path, "rt", newline="") as f:
        return tuple(next(csv.reader(f)))


def deribit_book(server: DeribitServer) -> tuple[list, list]:
    return (sorted(server.bids[PERP].items(), reverse=True), sorted(server.asks[PERP].items()))


async def test_records_deribit_book_and_trades_as_tardis_csv(tmp_path):
    server = DeribitServer()
    await server.start()
    out = tmp_path / "rec"
    stop = asyncio.Event()
    recorder = Recorder("deribit", [PERP], out, urls={"rest": server.rest, "ws": server.ws}, reconnect=FAST)
    started_us = int(time.time() * 1e6)
    task = asyncio.create_task(recorder.run(seconds=8, stop=stop))
    try:
        await eventually(lambda: recorder.stats.snapshots.get(PERP) == 1)
        await eventually(lambda: any(c.startswith("trades.") for cs in server.subscriptions.values() for c in cs))
        await server.book_change(bids=[(60000.0, 0), (59998.0, 70.0)], asks=[(60000.5, 250.0)])
        await server.trade(PERP, 60000.5, 120.0, "buy")
        await asyncio.sleep(0.15)
        await server.book_change(asks=[(60003.0, 10.0), (60002.0, 0)])
        await server.trade(PERP, 59999.5, 30.0, "sell")
        await eventually(lambda: (recorder.books[PERP].bids, recorder.books[PERP].asks) == tuple(
            dict(side) for side in deribit_book(server)))
        # the connection drops and the book changes meanwhile: the new subscription's book is
        # written as a snapshot (the replay starts over from it)
        await server.drop_connections()
        del server.bids[PERP][59999.0]
        server.change_id += 5
        await eventually(lambda: recorder.stats.snapshots.get(PERP) == 2, timeout=5)
        await eventually(lambda: any(c.startswith("trades.") for cs in server.subscriptions.values() for c in cs))
        await server.book_change(bids=[(59997.5, 5.0)])
        await server.trade(PERP, 60000.0, 10.0, "sell")
        await eventually(lambda: recorder.stats.trade_rows.get(PERP) == 3
                         and 59997.5 in recorder.books[PERP].bids)
        # a lost change (prev_change_id gap): resubscribed, and the fresh book written as a snapshot
        server.bids[PERP][59990.0] = 400.0                      # a level only the new snapshot shows
        await server.book_change(asks=[(60001.0, 0)], gap=True)
        await eventually(lambda: recorder.stats.snapshots.get(PERP) == 3 and 59990.0 in recorder.books[PERP].bids,
                         timeout=5)
    finally:
        stop.set()
        stats = await asyncio.wait_for(task, 5)
        await server.stop()
    ended_us = int(time.time() * 1e6)

    books, trades = book_path(out, "deribit", PERP), trades_path(out, "deribit", PERP)
    assert books.name == "deribit_incremental_book_L2_BTC-PERPETUAL.csv.gz"
    assert trades.name == "deribit_trades_BTC-PERPETUAL.csv.gz"
    assert stats.files == [books, trades]
    assert header(books) == BOOK_HEADER and header(trades) == TRADE_HEADER

    bids, asks, snapshots, stamps = rebuild_book(books)
    assert (bids, asks) == deribit_book(server)                  # amounts in USD, as Tardis's Deribit files
    assert snapshots == 3 and stats.snapshots[PERP] == 3
    assert all(started_us - 2_000_000 <= s <= ended_us and s % 1000 == 0 for s in stamps)   # venue ms -> µs
    with gzip.open(books, "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["exchange"] for r in rows} == {"deribit"} and {r["symbol"] for r in rows} == {PERP}
    assert [r["is_snapshot"] for r in rows[:6]] == ["true"] * 6      # the first snapshot: 3 bids, 3 asks
    changes = [r for r in rows[6:] if r["is_snapshot"] == "false"]
    assert ("bid", "60000", "0") in [(r["side"], r["price"], r["amount"]) for r in changes]   # deleted level
    locals_ = [int(r["local_timestamp"]) for r in rows]
    assert locals_ == sorted(locals_) and started_us <= locals_[0] <= ended_us

    recorded = read_trades(trades)
    assert [(side, price, amount) for _, side, price, amount, _, _ in recorded] == [
        ("buy", 60000.5, 120.0), ("sell", 59999.5, 30.0), ("sell", 60000.0, 10.0)]
    assert [tid for tid, *_ in recorded] == ["5001", "5002", "5003"]
    assert all(started_us - 2_000_000 <= ts <= local + 2_000_000 and started_us <= local <= ended_us
               for _, _, _, _, ts, local in recorded)


async def test_records_binance_depth_diffs_and_trades_for_n_seconds(tmp_path):
    server = BinanceServer()
    await server.start()
    recorder = Recorder("binanceusdm", ["BTCUSDT"], tmp_path, urls={"rest": server.rest, "ws": server.ws},
                        reconnect=FAST)
    task = asyncio.create_task(recorder.run(seconds=1.5))
    try:
        await eventually(lambda: recorder.stats.snapshots.get("BTCUSDT") == 1 and server.subscribed("btcusdt@trade"))
        await server.book_change(bids=[(60000.0, 0), (59999.8, 0.7)], asks=[(60000.1, 2.5)])
        await server.trade(60000.1, 0.003, "buy")
        stats = await asyncio.wait_for(task, 3)                 # ends by itself after 1.5 s
    finally:
        task.cancel()
        await server.stop()
    bids, asks, snapshots, _ = rebuild_book(book_path(tmp_path, "binanceusdm", "BTCUSDT"))
    assert (bids, asks) == server.book() and snapshots == 1
    assert book_path(tmp_path, "binanceusdm", "BTCUSDT").name == "binance-futures_incremental_book_L2_BTCUSDT.csv.gz"
    [(tid, side, price, amount, _, _)] = read_trades(trades_path(tmp_path, "binanceusdm", "BTCUSDT"))
    assert (side, price, amount) == ("buy", 60000.1, 0.003) and stats.trade_rows == {"BTCUSDT": 1}


async def test_refuses_to_overwrite_and_unknown_symbols(tmp_path):
    server = DeribitServer()
    await server.start()
    urls = {"rest": server.rest, "ws": server.ws}
    try:
        with pytest.raises(ConfigError, match="no instrument ETH-NOPE"):
            await Recorder("deribit", ["ETH-NOPE"], tmp_path, urls=urls).run(seconds=1)
        trades_path(tmp_path, "deribit", PERP).write_bytes(b"")
        with pytest.raises(ConfigError, match="already exist"):
            await Recorder("deribit", [PERP], tmp_path, urls=urls).run(seconds=1)
    finally:
        await server.stop()
    assert not book_path(tmp_path, "deribit", PERP).exists()


def test_book_differ_and_number_format():
    differ = BookDiffer()
    snap = differ.snapshot({"bids": [[100.0, 2.0, 1], [99.5, 1.0, 1]], "asks": [[100.5, 3.0, 2]]})
    assert snap == [("bid", 100.0, 2.0), ("bid", 99.5, 1.0), ("ask", 100.5, 3.0)]
    changes = differ.changes({"bids": [[100.0, 2.5, 1]], "asks": [[100.5, 3.0, 2], [101.0, 1.0, 1]]})
    assert sorted(changes) == [("ask", 101.0, 1.0), ("bid", 99.5, 0), ("bid", 100.0, 2.5)]
    assert differ.changes({"bids": [[100.0, 2.5, 1]], "asks": [[100.5, 3.0, 2], [101.0, 1.0, 1]]}) == []
    assert [number(x) for x in (60000.0, 60000.5, 0.001, 1e-8, 0, Decimal("1E+3"), "0.10")] == [
        "60000", "60000.5", "0.001", "0.00000001", "0", "1000", "0.1"]


def test_cli_record_arguments():
    from bot.cli import _parser
    args = _parser().parse_args(["record", "--venue", "deribit", "--symbols", PERP, "BTC-27DEC30-60000-C",
                                 "--out", "/tmp/x", "--seconds", "60", "--testnet"])
    assert (args.command, args.venue, args.symbols, args.out, args.seconds, args.testnet) == (
        "record", "deribit", [PERP, "BTC-27DEC30-60000-C"], "/tmp/x", 60.0, True)
    with pytest.raises(SystemExit):
        _parser().parse_args(["record", "--venue", "kraken", "--symbols", "X", "--out", "/tmp/x"])


async def test_cli_record_runs_the_recorder(tmp_path, monkeypatch):
    """``scalebot record`` wiring (``bot.cli._record``), pointed at the local server the way the
    tests point the venue (the command line itself has no URL option)."""
    import functools
    import signal

    import bot.cli
    import bot.record

    server = DeribitServer()
    await server.start()
    # bot.cli imports the recorder when the command runs: patch it where it is looked up
    monkeypatch.setattr(bot.record, "record", functools.partial(bot.record.record,
                                                                urls={"rest": server.rest, "ws": server.ws}))
    args = bot.cli._parser().parse_args(["record", "--venue", "deribit", "--symbols", PERP, "--out",
                                         str(tmp_path / "cli"), "--seconds", "0.5"])
    loop = asyncio.get_running_loop()
    try:
        assert await bot.cli._record(args) == 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await server.stop()
    bids, asks, snapshots, _ = rebuild_book(book_path(tmp_path / "cli", "deribit", PERP))
    assert (bids, asks) == deribit_book(server) and snapshots == 1
    assert header(trades_path(tmp_path / "cli", "deribit", PERP)) == TRADE_HEADER
