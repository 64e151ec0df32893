"""The daemon in-process on the simulated venue against the real Redis: it reaches its target
through passive fills only, never overshooting, and shuts down with nothing left working."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from bot.config import Config
from bot.daemon import Daemon
from bot.errors import ExitCode
from bot.venues.base import OrderRequest

from tests.integration.support import config_dict, sim_state


async def test_paper_run_reaches_target_through_passive_fills_only(prefix: str, redis_url: str) -> None:
    config = Config.model_validate(config_dict(prefix, target="0.5"))
    daemon = Daemon(config)
    target = Decimal("0.5")
    placed: list[OrderRequest] = []
    overshoots: list[str] = []
    send = daemon.venue.place_order

    async def checked_place(request: OrderRequest):
        engine = daemon.engines[request.symbol]
        committed = engine.position.size + sum(
            (o.signed_remaining for o in engine.live_orders() if o.side is request.side), Decimal(0))
        # the engine journals the order (PENDING) before sending, so it is already in ``committed``
        if committed > target:
            overshoots.append(f"{engine.position.size} + working -> {committed} > {target}")
        placed.append(request)
        return await send(request)

    daemon.venue.place_order = checked_place  # type: ignore[method-assign]
    stop = asyncio.Event()
    run = asyncio.create_task(daemon.run(stop))
    try:
        async with asyncio.timeout(45):
            while not daemon.engines or daemon.engines["BTC-PERP"].position.size != target:
                assert not run.done(), "daemon stopped early"
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        code = await asyncio.wait_for(run, 15)

    assert code == ExitCode.OK
    assert placed and all(r.post_only for r in placed)
    assert overshoots == []
    state = sim_state(redis_url, prefix)
    fills = state["exchange"]["fills"]
    assert fills and {f["liquidity"] for f in fills} == {"maker"}
    assert sum(Decimal(f["size"]) for f in fills if f["side"] == "buy") - sum(
        Decimal(f["size"]) for f in fills if f["side"] == "sell") == target
    assert state["exchange"]["resting"] == []  # shutdown cancelled everything
    assert Decimal(state["exchange"]["positions"]["BTC-PERP"]) == target
    parent = daemon.tracker.current("BTC-PERP")
    assert parent is not None and parent.target == target and parent.arrival_mid > 0
