"""A crash (SIGKILL) and restart: the daemon adopts the orders it left working, sends nothing twice,
drops intents that never reached the venue, and its position matches the venue's."""

from __future__ import annotations

import asyncio
import re
import signal
from decimal import Decimal
from pathlib import Path

from bot.core.types import Order, OrderStatus, Side
from bot.state.store import RedisStore

from tests.integration.support import QUIET_MARKET, DaemonProcess, config_dict, resting, sim_state, wait_for, write_config


def _seq(cid: str) -> int:
    return int(re.fullmatch(r"sb[0-9a-f]{8}-[0-9a-z]+-(\d+)", cid).group(1))


def test_restart_after_crash_adopts_orders_and_sends_nothing_twice(prefix: str, redis_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", config_dict(prefix, target="2", **QUIET_MARKET))
    first = DaemonProcess(config, tmp_path / "run1.log")
    wait_for(lambda: len(resting(redis_url, prefix)) == 2, 20, what="two working orders")
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    left_working = {o["client_order_id"] for o in resting(redis_url, prefix)}
    first_cids = {e["client_order_id"] for e in first.events() if e["event"] == "order.placed"}

    # an intent journalled just before the crash, never sent
    async def journal_unsent() -> str:
        store = RedisStore(redis_url, prefix)
        cid = await store.next_client_order_id("BTC-PERP")
        await store.save_order(Order(cid, "BTC-PERP", Side.BUY, Decimal("1"), Decimal("0.1"), OrderStatus.PENDING, 0.0))
        await store.close()
        return cid

    unsent = asyncio.run(journal_unsent())

    second = DaemonProcess(config, tmp_path / "run2.log")
    try:
        wait_for(lambda: any(e["event"] == "reconcile.done" for e in second.events()), 15, what="reconcile")
        wait_for(lambda: any(e["event"] == "order.placed" for e in second.events()), 15, what="trading resumed")
    finally:
        assert second.stop() == 0
    events = second.events()
    adopted = {e["client_order_id"] for e in events if e["event"] == "reconcile.order_adopted"}
    dropped = {e["client_order_id"] for e in events if e["event"] == "reconcile.order_dropped"}
    placed = [e["client_order_id"] for e in events if e["event"] == "order.placed"]
    assert left_working <= adopted
    assert dropped == {unsent}
    assert not set(placed) & (first_cids | {unsent})
    assert min(_seq(c) for c in placed) > max(_seq(c) for c in first_cids | {unsent})
    assert not any("duplicate client order id" in str(e.get("reason", "")) for e in events)

    state = sim_state(redis_url, prefix)
    venue_position = Decimal(state["exchange"]["positions"]["BTC-PERP"])
    status = asyncio.run(_position(redis_url, prefix))
    assert status == venue_position


async def _position(redis_url: str, prefix: str) -> Decimal:
    store = RedisStore(redis_url, prefix)
    try:
        return (await store.load_position("BTC-PERP")).size
    finally:
        await store.close()
