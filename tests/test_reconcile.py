"""Reconcile against a venue whose orders keep filling meanwhile: the position it takes from the
venue never counts a fill whose update is still on its way to the engine (that update would
count it a second time)."""

from __future__ import annotations

import time
from decimal import Decimal

from bot.throttle import OrderBudget
from structlog.testing import capture_logs

from bot.config import Config
from bot.core.types import Order, OrderStatus, OrderUpdate, Side
from bot.daemon import build_venue
from bot.reconcile import reconcile
from bot.state.store import RedisStore
from bot.venues.base import OrderRequest
from bot.wiring import build_engines, build_portfolio
from tests.integration.support import config_dict

SYMBOL = "BTC-PERP"
SIZE = Decimal("0.1")


async def test_a_fill_made_while_reconciling_counts_once(prefix: str, redis_url: str) -> None:
    config = Config.model_validate(config_dict(prefix))
    store = RedisStore(redis_url, prefix)
    venue = build_venue(config, store, time.time)
    await venue.activate(SYMBOL)  # the market moves only when the test steps it
    specs = {SYMBOL: await venue.instrument(SYMBOL)}
    engine = build_engines(config, specs, venue=venue, store=store, throttler=OrderBudget(rate_limit=100),
                           clock=time.time, portfolio=build_portfolio(config, time.time()))[SYMBOL]
    try:
        # two buys left working by a crashed run: journalled and resting at the venue
        bid = (await venue.fetch_book(SYMBOL)).bids[0].price
        adopted = set()
        for _ in range(2):
            cid = await store.next_client_order_id(SYMBOL)
            await store.save_order(Order(cid, SYMBOL, Side.BUY, bid, SIZE, OrderStatus.OPEN, time.time()))
            await venue.place_order(OrderRequest(SYMBOL, cid, Side.BUY, bid, SIZE))
            adopted.add(cid)

        real_fetch_position = venue.fetch_position
        filled: list[str] = []

        async def fetch_position_after_a_fill(symbol: str) -> Decimal:
            """The market fills an adopted order just before the venue's position is read; its
            update waits in the venue's stream (the dispatcher has not run yet)."""
            for _ in range(20_000):
                if filled:
                    break
                await venue.step()
                filled.extend(f.trade_id for f in await venue.fetch_fills(symbol, 0.0) if f.client_order_id in adopted)
            return await real_fetch_position(symbol)

        venue.fetch_position = fetch_position_after_a_fill  # type: ignore[method-assign]
        with capture_logs() as logs:
            await reconcile(engine, venue, store)
        assert filled, "the market never filled an adopted order"

        # the dispatcher now delivers what the venue streamed meanwhile
        while not venue._queue.empty():
            event = venue._queue.get_nowait()
            if isinstance(event, OrderUpdate):
                await engine.on_order_update(event)

        at_venue = await real_fetch_position(SYMBOL)
        assert at_venue == sum(f.signed_size for f in await venue.fetch_fills(SYMBOL, 0.0)) > 0
        assert engine.position.size == at_venue, "a fill made during reconcile was counted twice"
        assert (await store.load_position(SYMBOL)).size == at_venue
        assert "reconcile.position_adjusted" not in [e["event"] for e in logs]
    finally:
        await venue.close()
        await store.close()
