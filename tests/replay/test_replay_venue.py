"""The replay venue on the recorded slice: simulated clock, books and trades in time order, our
orders matched by the shared fill model, IOC against the recorded book, latency, quotes-only
data, real-time pacing."""

from __future__ import annotations

import shutil
import time
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.types import Book, OrderStatus, OrderUpdate, Side, Trade
from bot.venues.base import OrderRequest, VenueError
from bot.venues.replay.venue import ReplayVenue

from .support import QUOTES_FILE, SPEC, SYMBOL, TRADES_FILE, venue

D = Decimal
SNAPSHOT_TS = 1723161255.319702  # local time of the recording's depth snapshot


async def test_connect_replays_up_to_the_first_two_sided_book() -> None:
    v = venue()
    await v.connect([SYMBOL])
    assert v.clock() == pytest.approx(SNAPSHOT_TS)
    book = await v.fetch_book(SYMBOL, 50)
    assert len(book.bids) == len(book.asks) == 50
    assert book.best_bid < book.best_ask and book.ts == pytest.approx(SNAPSHOT_TS)
    assert (v.name, v.supports_amend, v.books_include_own_orders) == ("replay", True, False)


async def test_steps_go_forward_in_time_and_deliver_every_trade() -> None:
    v = venue(book_depth=5)
    await v.connect([SYMBOL])
    last, trades, books = v.clock(), 0, 0
    while (events := v.step()) is not None:
        assert v.clock() >= last
        last = v.clock()
        for e in events:
            if isinstance(e, Trade):
                trades += 1
                assert e.ts == pytest.approx(v.clock())
            elif isinstance(e, Book):
                books += 1
                assert e.ts == v.clock() and e.best_bid < e.best_ask and len(e.bids) <= 5
    assert v.stats["trades"] == 2502 and trades > 2400  # a few printed before the first book
    assert books > 1000 and last == pytest.approx(1723161315.0, abs=0.1)
    assert v.step() is None and v.next_time() is None


async def test_a_resting_bid_fills_when_the_queue_ahead_has_traded_or_the_book_crosses_it() -> None:
    """The venue's first fill of a bid at the touch comes exactly when an independent replay of
    the conservative rules says so: prints at the price eat the queue ahead, the displayed size
    caps it, a print through the price or an ask at or below it fills."""
    records: list[tuple[str, dict]] = []
    v = venue(recorder=lambda kind, rec: records.append((kind, rec)))
    await v.connect([SYMBOL])
    book = await v.fetch_book(SYMBOL)
    price, queue = book.best_bid, book.bids[0].size
    await v.place_order(OrderRequest(SYMBOL, "bid-1", Side.BUY, price, D("0.05")))
    assert records[0][1]["queue_ahead"] == queue and records[0][1]["action"] == "place"

    expected: tuple[float, str] | None = None
    venue_fill = None
    while venue_fill is None and (events := v.step()) is not None:
        for t in (e for e in events if isinstance(e, Trade)):
            if expected is None and t.aggressor is Side.SELL and t.price <= price:
                queue = queue - t.size if t.price == price else D(-1)  # a print through fills at once
                if queue < 0:
                    expected = (t.ts, t.trade_id)
        books = [e for e in events if isinstance(e, Book)]
        if books and expected is None:
            queue = min(queue, books[-1].size_at(Side.BUY, price))
            if books[-1].best_ask <= price:
                expected = (books[-1].ts, "book-cross")
        fills = [e for e in events if isinstance(e, OrderUpdate) and e.fill is not None]
        if fills:
            venue_fill = fills[0].fill
    assert venue_fill is not None and expected is not None
    assert venue_fill.ts == pytest.approx(expected[0])
    assert (venue_fill.price, venue_fill.liquidity) == (price, "maker")
    assert venue_fill.fee == venue_fill.size * price * 2 / 10_000
    fill_record = next(rec for kind, rec in records if kind == "fill")
    assert fill_record["trade"]["id"] == expected[1]
    assert fill_record["trade"]["aggressor"] == "sell" and D(fill_record["trade"]["price"]) <= price


async def test_an_ioc_takes_the_recorded_book_at_taker_fees() -> None:
    v = venue()
    await v.connect([SYMBOL])
    book = await v.fetch_book(SYMBOL, 50)
    limit = book.asks[3].price
    available = sum(lv.size for lv in book.asks[:4])
    ack = await v.place_order(OrderRequest(SYMBOL, "x", Side.BUY, limit, available + 1, post_only=False,
                                           time_in_force="IOC"))
    assert ack.status is OrderStatus.OPEN
    updates = v.take_updates()
    fills = [u.fill for u in updates if u.fill]
    assert [(f.price, f.size) for f in fills] == [(lv.price, lv.size) for lv in book.asks[:4]]
    assert all(f.liquidity == "taker" and f.fee == f.size * f.price * 5 / 10_000 for f in fills)
    assert updates[-1].status is OrderStatus.CANCELLED and updates[-1].filled == available
    assert await v.fetch_position(SYMBOL) == available
    assert v.take_updates() == []


async def test_orders_arrive_after_the_entry_latency() -> None:
    v = venue(entry_latency_s=0.05, cancel_latency_s=0.03)
    await v.connect([SYMBOL])
    book = await v.fetch_book(SYMBOL)
    sent = v.clock()
    ack = await v.place_order(OrderRequest(SYMBOL, "o", Side.BUY, book.best_bid - D("5"), D("0.01")))
    assert ack.status is OrderStatus.PENDING
    seen = None
    while seen is None:
        for e in v.step() or []:
            if isinstance(e, OrderUpdate) and e.client_order_id == "o":
                seen = e
    assert seen.status is OrderStatus.OPEN and v.clock() == pytest.approx(sent + 0.05)
    assert (await v.cancel_order(SYMBOL, "o")).status is OrderStatus.CANCEL_PENDING
    cancelled = None
    while cancelled is None:
        for e in v.step() or []:
            if isinstance(e, OrderUpdate) and e.client_order_id == "o":
                cancelled = e
    assert cancelled.status is OrderStatus.CANCELLED and v.clock() == pytest.approx(sent + 0.08)


async def test_quotes_stand_in_for_a_missing_l2_file(tmp_path: Path) -> None:
    shutil.copy(QUOTES_FILE, tmp_path)
    shutil.copy(TRADES_FILE, tmp_path)
    v = ReplayVenue({SYMBOL: SPEC}, tmp_path)
    await v.connect([SYMBOL])
    book = await v.fetch_book(SYMBOL)
    assert len(book.bids) == len(book.asks) == 1
    assert v.clock() == pytest.approx(1723161255.088169)  # the first quote
    while v.step() is not None:
        pass
    assert v.stats["quotes"] == 12_093 and v.stats["book_changes"] == 0


async def test_unknown_symbols_and_missing_data_are_venue_errors(tmp_path: Path) -> None:
    with pytest.raises(VenueError, match="no market ETHUSDT"):
        await venue().connect(["ETHUSDT"])
    shutil.copy(TRADES_FILE, tmp_path)
    with pytest.raises(VenueError, match="no incremental_book_L2 or quotes"):
        await ReplayVenue({SYMBOL: SPEC}, tmp_path).connect([SYMBOL])
    with pytest.raises(VenueError, match="does not exist"):
        await ReplayVenue({SYMBOL: SPEC}, tmp_path / "nope").connect([SYMBOL])


def _tiny_recording(path: Path) -> None:
    t0 = 1_700_000_000_000_000
    path.mkdir()
    (path / "x_incremental_book_L2_BTCUSDT.csv").write_text(
        "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"
        f"x,BTCUSDT,{t0},{t0},true,bid,100.0,1\nx,BTCUSDT,{t0},{t0},true,ask,100.1,1\n"
        f"x,BTCUSDT,{t0 + 300_000},{t0 + 300_000},false,bid,100.0,2\n")
    (path / "x_trades_BTCUSDT.csv").write_text(
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
        f"x,BTCUSDT,{t0 + 200_000},{t0 + 200_000},1,sell,100.0,0.5\n")


@pytest.mark.parametrize("realtime", [False, True])
async def test_events_run_as_fast_as_possible_or_at_real_time_speed(tmp_path: Path, realtime: bool) -> None:
    _tiny_recording(tmp_path / "d")
    v = ReplayVenue({SYMBOL: SPEC}, tmp_path / "d")
    await v.connect([SYMBOL])
    start = time.monotonic()
    events = [e async for e in v.events(realtime=realtime)]
    elapsed = time.monotonic() - start
    assert [type(e).__name__ for e in events] == ["Trade", "Book"]
    if realtime:
        assert 0.28 <= elapsed < 2.0  # 0.3 s of recording
    else:
        assert elapsed < 0.2


async def test_two_instruments_from_one_file_each_get_their_own_book_and_trades(tmp_path: Path) -> None:
    t0 = 1_700_000_000_000_000
    (tmp_path / "mixed_incremental_book_L2.csv").write_text(
        "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"
        f"x,BTCUSDT,{t0},{t0},true,bid,100.0,1\nx,BTCUSDT,{t0},{t0},true,ask,100.1,1\n"
        f"x,ETHUSDT,{t0 + 5},{t0 + 5},true,bid,10.00,3\nx,ETHUSDT,{t0 + 5},{t0 + 5},true,ask,10.01,4\n"
        f"x,ETHUSDT,{t0 + 9},{t0 + 9},false,ask,10.01,0\nx,ETHUSDT,{t0 + 9},{t0 + 9},false,ask,10.02,2\n")
    (tmp_path / "mixed_trades.csv").write_text(
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
        f"x,ETHUSDT,{t0 + 7},{t0 + 7},1,buy,10.01,0.5\nx,BTCUSDT,{t0 + 8},{t0 + 8},2,sell,100.0,0.2\n")
    eth = SPEC.__class__(symbol="ETHUSDT", tick_size=D("0.01"), lot_size=D("0.01"), min_size=D("0.01"))
    v = ReplayVenue({SYMBOL: SPEC, "ETHUSDT": eth}, tmp_path)
    await v.connect([SYMBOL, "ETHUSDT"])
    assert v.clock() == pytest.approx((t0 + 5) / 1e6)
    events = [e async for e in v.events()]
    assert [(type(e).__name__, e.symbol) for e in events] == [
        ("Trade", "ETHUSDT"), ("Trade", SYMBOL), ("Book", "ETHUSDT")]
    assert (await v.fetch_book("ETHUSDT")).best_ask == D("10.02")
    assert (await v.fetch_book(SYMBOL)).best_ask == D("100.1")
