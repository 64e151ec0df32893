"""Crash test (issue 7): SIGKILL the daemon at random moments of a busy paper run, restart it
each time, and check after every restart that the venue holds no duplicate or unknown order and
that the position and fills in Redis equal the venue's. A clean SIGTERM ends it with exit 0 and
nothing working."""

from __future__ import annotations

import asyncio
import time
import random
import signal
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.daemon import Daemon as BotDaemon
from bot.errors import ExitCode
from tests.faults.support import SYMBOL, Daemon, snapshot, wait_agreement
from tests.integration.support import config_dict, wait_for, write_config

ITERATIONS = 12
MAX_WORKING = 2


def flipping_config(prefix: str, every_s: float = 1.0, size: str = "1", horizon_s: float = 120) -> dict[str, Any]:
    """The default (busy) market at speed 4, with a target that flips between +size and -size
    every ``every_s`` seconds after start, so orders keep working and fill both ways."""
    data = config_dict(prefix)
    steps = [{"after_s": round(i * every_s, 3), "target": size if i % 2 == 0 else f"-{size}"}
             for i in range(int(horizon_s / every_s))]
    data["instruments"][0]["policy"] = {"type": "target_schedule", "steps": steps}
    data["instruments"][0]["execution"]["max_working_orders"] = MAX_WORKING
    data["engine"]["lease_ms"] = 1000  # a SIGKILLed owner's lease lapses after this: the restart waits for it
    return data


def test_sigkill_at_random_moments_then_restart_keeps_journal_and_venue_in_step(
        prefix: str, redis_url: str, tmp_path: Path, daemons: list[Daemon]) -> None:
    rng = random.Random(1234)
    config = write_config(tmp_path / "c.yaml", flipping_config(prefix))
    all_events: list[dict[str, Any]] = []
    for i in range(ITERATIONS):
        daemon = Daemon(config, tmp_path / f"run{i}.log")
        daemons.append(daemon)
        daemon.wait_event("reconcile.done", 20)
        wait_agreement(redis_url, prefix, 5, MAX_WORKING)  # right after reconcile
        delay = rng.uniform(0.3, 2.5)
        try:
            daemon.proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass  # still running, as it should be
        else:
            raise AssertionError(f"daemon exited by itself ({daemon.proc.returncode}):\n{daemon.tail()}")
        wait_agreement(redis_url, prefix, 5, MAX_WORKING)  # while trading
        assert daemon.kill() == -signal.SIGKILL
        all_events += daemon.events()

    final = Daemon(config, tmp_path / "final.log")
    daemons.append(final)
    final.wait_event("reconcile.done", 20)
    wait_agreement(redis_url, prefix, 5, MAX_WORKING)
    final.wait_event("order.placed", 15, after=len(final.events()))
    assert final.stop(signal.SIGTERM) == 0, final.tail()
    all_events += final.events()

    snap = snapshot(redis_url, prefix)
    assert snap.resting == [], "working orders left at the venue after SIGTERM"
    assert snap.orders == {}, "working orders left in the journal after SIGTERM"
    assert not snap.problems(MAX_WORKING)
    assert not snap.agreement()
    assert snap.fill_ids, "the run produced no fills: the test did not exercise anything"

    names = [e["event"] for e in all_events]
    assert "daemon.crashed" not in names
    assert "reconcile.orphan_cancelled" not in names, "an order reached the venue without a journalled intent"
    assert "reconcile.position_adjusted" not in names, "the journal lost a fill the venue has"
    assert not [e for e in all_events if "duplicate client order id" in str(e.get("reason", ""))]
    placed = [e["client_order_id"] for e in all_events if e["event"] == "order.placed"]
    assert len(placed) == len(set(placed)), "a client order id was placed twice"
    assert len(placed) > ITERATIONS, "too little trading to mean anything"
    sides = {e["side"] for e in all_events if e["event"] == "order.filled"}
    assert sides == {"buy", "sell"}, f"fills only on {sides}"


async def test_a_fill_during_reconcile_is_journalled(prefix: str, redis_url: str, tmp_path: Path) -> None:
    """Deterministic form of a failure the crash test hits at random: the venue fills an order
    left working by the crashed run while the restarted daemon is still reconciling."""
    data = config_dict(prefix, target="2")
    data["redis"]["url"] = redis_url
    data["engine"]["lease_ms"] = 1000
    config_path = write_config(tmp_path / "c.yaml", data)
    crashed = Daemon(config_path, tmp_path / "crashed.log")
    try:
        wait_for(lambda: len(snapshot(redis_url, prefix).resting) == MAX_WORKING, 20, what="two working orders")
    finally:
        crashed.kill()

    daemon = BotDaemon(Config.model_validate(data))
    venue = daemon.venue
    real_fetch_position = venue.fetch_position
    injected: list[str] = []

    async def fetch_position_after_a_fill(symbol: str) -> Decimal:
        """Reconcile's last venue call: first let the market fill one of the adopted orders."""
        if not injected:
            adopted = set(daemon.engines[symbol].orders)
            seen = {f.trade_id for f in await venue.fetch_fills(symbol, 0.0)}
            deadline = time.monotonic() + 15.0  # the market moves with the clock: give it time
            while time.monotonic() < deadline:
                await venue.step()  # type: ignore[attr-defined]
                await asyncio.sleep(0.005)
                new = [f.trade_id for f in await venue.fetch_fills(symbol, 0.0)
                       if f.trade_id not in seen and f.client_order_id in adopted]
                if new:
                    injected.extend(new)
                    break
            assert injected, "the market never filled an adopted order"
            await asyncio.sleep(0.05)  # the dispatcher gets the fill's order update meanwhile
        return await real_fetch_position(symbol)

    venue.fetch_position = fetch_position_after_a_fill  # type: ignore[method-assign]
    stop = asyncio.Event()
    run = asyncio.create_task(daemon.run(stop))
    try:
        async with asyncio.timeout(30):
            while not (daemon.engines and daemon.engines[SYMBOL].owned):
                assert not run.done(), "daemon stopped early"
                await asyncio.sleep(0.02)
        assert injected
        await asyncio.sleep(0.5)
        snap = await asyncio.to_thread(snapshot, redis_url, prefix)
        missing = set(injected) - snap.fill_ids
        assert not missing, f"fills made during reconcile never journalled: {sorted(missing)}"
        engine = daemon.engines[SYMBOL]
        at_venue = {o.client_order_id for o in await venue.fetch_open_orders(SYMBOL)}
        stale = [o.client_order_id for o in engine.live_orders() if o.client_order_id not in at_venue and
                 o.status.value == "open"]
        assert not stale, f"orders the engine still works that the venue has done: {stale}"
    finally:
        stop.set()
        assert await asyncio.wait_for(run, 15) == ExitCode.OK
