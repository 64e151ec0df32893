"""Market data a venue should never send (crossed, locked, NaN, zero, negative) is never acted
on, and a kill switch with ``flatten`` closes the position with reduce-only orders only."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from structlog.testing import capture_logs

from bot.config import Config
from bot.core.types import Book, Level, Side
from bot.daemon import Daemon
from bot.errors import ExitCode
from bot.venues.base import OrderRequest

from tests.integration.support import config_dict

D = Decimal


def _book(symbol: str, bid: str, ask: str, ts: float) -> Book:
    return Book(symbol, (Level(D(bid), D("1")),), (Level(D(ask), D("1")),), ts)


async def _until(predicate, timeout: float, run: asyncio.Task) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            assert not run.done(), "daemon stopped early"
            await asyncio.sleep(0.02)


async def test_bad_books_are_never_acted_on(prefix: str) -> None:
    config = Config.model_validate(config_dict(prefix, target="0.5"))
    daemon = Daemon(config)
    stop = asyncio.Event()
    with capture_logs() as logs:
        run = asyncio.create_task(daemon.run(stop))
        try:
            await _until(lambda: "BTC-PERP" in daemon.engines and daemon.engines["BTC-PERP"].owned, 15, run)
            engine = daemon.engines["BTC-PERP"]
            await _until(lambda: engine.book is not None, 5, run)
            good = engine.book
            for bad in (_book("BTC-PERP", "60010", "60000", good.ts + 1),   # crossed
                        _book("BTC-PERP", "60000", "60000", good.ts + 1),   # locked
                        Book("BTC-PERP", (Level(D("NaN"), D("1")), Level(D("0"), D("1"))),
                             (Level(D("-1"), D("1")),), good.ts + 1)):     # nothing usable
                engine.on_book(bad)
                assert engine.book is not bad  # a good book (the last one, or a newer one) stays
                assert engine.book.best_bid < engine.book.best_ask
            rejected = [e for e in logs if e["event"] == "market_data.rejected"]
            assert rejected and "crossed book" in rejected[0]["reason"]
        finally:
            stop.set()
            assert await asyncio.wait_for(run, 15) == ExitCode.OK


async def test_kill_switch_with_flatten_closes_the_position_with_reducing_orders(prefix: str) -> None:
    data = config_dict(prefix, target="0.3")
    data["engine"]["guards"] = {"flatten_deadline_s": 3}
    config = Config.model_validate(data)
    daemon = Daemon(config)
    sent: list[tuple[OrderRequest, Decimal]] = []
    place = daemon.venue.place_order

    async def recording_place(request: OrderRequest):
        sent.append((request, daemon.engines[request.symbol].position.size))
        return await place(request)

    daemon.venue.place_order = recording_place  # type: ignore[method-assign]
    stop = asyncio.Event()
    run = asyncio.create_task(daemon.run(stop))
    try:
        await _until(lambda: daemon.engines and daemon.engines["BTC-PERP"].position.size == D("0.3"), 30, run)
        engine = daemon.engines["BTC-PERP"]
        before = len(sent)
        await daemon.store.engage_kill("global", "flatten test", "test", "flatten")
        await _until(lambda: engine.position.size == 0 and not engine.live_orders(), 20, run)
        await asyncio.sleep(0.5)
        assert engine.position.size == 0 and engine.kill is not None and engine.kill.action == "flatten"
        flattening = sent[before:]
        assert flattening, "nothing was sent to flatten"
        for request, position in flattening:
            assert request.side is Side.SELL and request.size <= position, (request, position)
    finally:
        stop.set()
        assert await asyncio.wait_for(run, 15) == ExitCode.OK


async def test_an_instrument_that_cannot_be_reconciled_stays_halted_and_the_daemon_runs(prefix: str) -> None:
    config = Config.model_validate(config_dict(prefix, target="0.5"))
    daemon = Daemon(config)
    fetch = daemon.venue.fetch_open_orders
    calls = {"n": 0}

    async def failing_first(symbol: str):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("venue says nonsense")
        return await fetch(symbol)

    daemon.venue.fetch_open_orders = failing_first  # type: ignore[method-assign]
    stop = asyncio.Event()
    with capture_logs() as logs:
        run = asyncio.create_task(daemon.run(stop))
        try:
            await _until(lambda: any(e["event"] == "reconcile.failed" for e in logs), 15, run)
            engine = daemon.engines["BTC-PERP"]
            await _until(lambda: engine.kill is not None, 5, run)
            assert engine.kill.scope == "BTC-PERP" and "reconcile failed" in engine.kill.reason
            assert (await daemon.store.kill_switch(engine.scopes)).scope == "BTC-PERP"  # persisted
            await asyncio.sleep(0.5)
            assert not [e for e in logs if e["event"] == "order.placed"]
            # the account stream comes back: reconcile again (now it works), still halted until resume
            from bot.venues.base import AccountStreamRecovered
            daemon.venue._queue.put_nowait(AccountStreamRecovered())
            await _until(lambda: sum(e["event"] == "reconcile.done" for e in logs) >= 1, 5, run)
            assert engine.kill is not None
        finally:
            stop.set()
            assert await asyncio.wait_for(run, 15) == ExitCode.OK
