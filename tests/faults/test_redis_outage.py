"""Redis unreachable (issue 7): no new orders (they cannot be journalled), cancels still go out;
on return, reconcile and resume. Each test stops and restarts a redis-server of its own on a
spare loopback port (the simulated venue keeps its paper account in that same Redis, so its
persistence is down too).

What a correct daemon does when Redis comes back *empty* (``--save ''``, no AOF: the journal,
the client-order-id sequence, the fill ids, the kill switches and the paper account are gone):
it must not take the empty store for the truth. It keeps every kill switch it knew of engaged
(writing them back), re-seeds the client-order-id sequence past every id it has used, writes
back position, fills and working orders (``resync``), and resumes only when no switch holds.
"""

from __future__ import annotations

import asyncio
import signal
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis

import bot.state.store as store_module
from bot.core.types import Order, OrderStatus, Side
from bot.state.base import kill_scopes
from bot.state.keys import Keys
from bot.state.store import RedisStore
from tests.faults.support import Daemon, RedisServer, snapshot
from tests.faults.test_crash import flipping_config
from tests.integration.support import QUIET_MARKET, config_dict, wait_for, write_config

PREFIX = "faults"
RESTING_MARKET = {**QUIET_MARKET, "trades_per_s": 0, "annual_vol": 1e-6}
"""No takers and a book that does not move: our orders rest and never fill, so the venue's account
only changes when we act."""


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def persistent_redis() -> Iterator[RedisServer]:
    server = RedisServer(persistent=True)
    server.start()
    yield server
    server.close()


def _index_of(events: list[dict[str, Any]], name: str, after: int = 0) -> int:
    return next(i for i, e in enumerate(events) if i >= after and e["event"] == name)


def _kill_switch(url: str, action: str, reason: str) -> None:
    async def go() -> None:
        store = RedisStore(url, PREFIX)
        try:
            if action == "kill":
                await store.engage_kill("global", reason, "test@faults")
            else:
                await store.lift_kill("global", reason, "test@faults")
        finally:
            await store.close()
    asyncio.run(go())


def test_redis_down_blocks_new_orders_cancels_still_go_out_and_the_daemon_survives(
        own_redis: RedisServer, tmp_path: Path, daemons: list[Daemon]) -> None:
    data = config_dict(PREFIX, target="2", **RESTING_MARKET)
    data["engine"]["guards"] = {"redis_down_kill_after_s": 2}
    config = write_config(tmp_path / "c.yaml", data)
    daemon = Daemon(config, tmp_path / "run.log", env={"SCALEBOT_REDIS_URL": own_redis.url})
    daemons.append(daemon)
    daemon.wait_event("reconcile.done", 20)
    wait_for(lambda: len(snapshot(own_redis.url, PREFIX).resting) == 2, 15, what="two working orders")
    working = {o["client_order_id"] for o in snapshot(own_redis.url, PREFIX).resting}

    own_redis.stop()
    down_at = time.monotonic()
    daemon.wait_event("redis.unavailable", 5)
    events = daemon.wait_event("kill_switch.engaged", 6)
    engaged = [e for e in events if e["event"] == "kill_switch.engaged"][-1]
    assert "Redis unreachable" in engaged["reason"]
    assert time.monotonic() - down_at >= 2.0
    assert engaged["working_orders"] == 2, "nothing left to cancel: the test did not exercise the cancel path"
    # cancels still go out: every order working at the outage ends at the venue (cancelled, or filled)
    def ended() -> bool:
        assert daemon.alive(), f"daemon died while Redis was down:\n{daemon.tail()}"
        events = daemon.events()
        done = {e["client_order_id"] for e in events if e["event"] in ("order.cancelled", "order.rejected")}
        filled: dict[str, float] = {}
        for e in events:
            if e["event"] == "order.filled":
                filled[e["client_order_id"]] = filled.get(e["client_order_id"], 0.0) + float(e["size"])
        done |= {cid for cid, size in filled.items() if size >= 0.1 - 1e-9}
        return working <= done
    wait_for(ended, 3, what=f"cancels of {working}")
    time.sleep(1.0)
    assert daemon.alive(), f"daemon died while Redis was down:\n{daemon.tail()}"

    own_redis.start()  # empty: --save '' and no AOF
    events = daemon.wait_event("redis.recovered", 10)
    time.sleep(1.0)
    assert daemon.alive(), f"daemon died after Redis returned:\n{daemon.tail()}"
    first_down = _index_of(events, "redis.unavailable")
    recovered = _index_of(events, "redis.recovered")
    assert [e for e in events[first_down:recovered] if e["event"] == "order.placed"] == []
    # the switch engaged while Redis was away is written back and holds
    client = redis.Redis.from_url(own_redis.url, decode_responses=True)
    try:
        assert "Redis unreachable" in client.hget(Keys(PREFIX).kill("global"), "reason")
    finally:
        client.close()
    assert [e for e in daemon.events()[recovered:] if e["event"] == "order.placed"] == []

    assert daemon.stop(signal.SIGTERM) == 0, daemon.tail()
    assert daemon.events()[-1]["event"] == "daemon.stopped"
    assert "Traceback" not in daemon.text()
    assert snapshot(own_redis.url, PREFIX).resting == []


def test_brief_redis_outage_is_ridden_out_and_trading_resumes(
        persistent_redis: RedisServer, tmp_path: Path, daemons: list[Daemon]) -> None:
    data = flipping_config(PREFIX)
    data["engine"]["guards"] = {"redis_down_kill_after_s": 10}  # an outage shorter than the limit
    config = write_config(tmp_path / "c.yaml", data)
    daemon = Daemon(config, tmp_path / "run.log", env={"SCALEBOT_REDIS_URL": persistent_redis.url})
    daemons.append(daemon)
    daemon.wait_event("reconcile.done", 20)
    wait_for(lambda: sum(n == "order.filled" for n in daemon.names()) >= 3, 15, what="fills")

    persistent_redis.stop()
    daemon.wait_event("redis.unavailable", 5)
    time.sleep(1.5)
    persistent_redis.start()  # with its data (append-only file)
    events = daemon.wait_event("redis.recovered", 10)
    recovered = _index_of(events, "redis.recovered")
    # trading goes on: fresh books, new orders and fills after the return
    daemon.wait_event("order.placed", 8, after=recovered)
    daemon.wait_event("order.filled", 8, after=recovered)
    time.sleep(1.0)
    after = daemon.events()[recovered:]
    stale = [e for e in after if e["event"] == "risk.rejected" and e.get("limit") == "stale_after_s"]
    assert stale == [], "market data stopped after the outage"
    assert daemon.alive(), daemon.tail()

    assert daemon.stop(signal.SIGTERM) == 0, daemon.tail()
    assert "Traceback" not in daemon.text()
    snap = snapshot(persistent_redis.url, PREFIX)
    assert snap.resting == [] and snap.orders == {}
    assert not snap.problems(2)
    assert not snap.agreement(), "fills made while Redis was down were not written back"


def _halt_then_outage_with_empty_return(server: RedisServer, tmp_path: Path, daemons: list[Daemon]) -> Daemon:
    """Orders worked, then an operator kill (everything cancelled), then Redis stops and comes
    back empty. Nothing is working during the outage, so nothing needs the venue's persistence."""
    data = config_dict(PREFIX, target="2", **RESTING_MARKET)
    data["engine"]["guards"] = {"redis_down_kill_after_s": 30}
    config = write_config(tmp_path / "c.yaml", data)
    daemon = Daemon(config, tmp_path / "run.log", env={"SCALEBOT_REDIS_URL": server.url})
    daemons.append(daemon)
    daemon.wait_event("reconcile.done", 20)
    wait_for(lambda: len(snapshot(server.url, PREFIX).resting) == 2, 15, what="two working orders")
    _kill_switch(server.url, "kill", "operator halt")
    wait_for(lambda: snapshot(server.url, PREFIX).resting == [], 3, what="orders cancelled by the kill switch")
    time.sleep(0.5)
    server.stop()
    daemon.wait_event("redis.unavailable", 5)
    time.sleep(0.5)
    server.start()  # empty
    daemon.wait_event("redis.recovered", 10)
    return daemon


def test_a_kill_switch_survives_redis_coming_back_empty(
        own_redis: RedisServer, tmp_path: Path, daemons: list[Daemon]) -> None:
    daemon = _halt_then_outage_with_empty_return(own_redis, tmp_path, daemons)
    time.sleep(2.0)
    events = daemon.events()
    down = _index_of(events, "redis.unavailable")
    assert daemon.alive(), daemon.tail()
    assert [e["event"] for e in events[down:] if e["event"] in ("kill_switch.lifted", "order.placed")] == []
    assert daemon.stop(signal.SIGTERM) == 0, daemon.tail()


def test_client_order_ids_are_not_reused_after_redis_comes_back_empty(
        own_redis: RedisServer, tmp_path: Path, daemons: list[Daemon]) -> None:
    daemon = _halt_then_outage_with_empty_return(own_redis, tmp_path, daemons)
    down = _index_of(daemon.events(), "redis.unavailable")
    _kill_switch(own_redis.url, "resume", "operator resumes")
    daemon.wait_event("order.placed", 10, after=down)
    time.sleep(0.5)
    events = daemon.events()
    before = {e["client_order_id"] for e in events[:down] if e["event"] == "order.placed"}
    after = events[down:]
    duplicates = [e["client_order_id"] for e in after if "duplicate client order id" in str(e.get("reason", ""))]
    assert duplicates == []
    assert not before & {e["client_order_id"] for e in after if e["event"] == "order.placed"}
    assert daemon.stop(signal.SIGTERM) == 0, daemon.tail()


async def test_a_stalled_redis_rests_the_blocking_way_until_its_own_probe_finds_it_back(
        own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis stalls (SIGSTOP) under a new order's intent: the intent fails after the blocking
    timeout and its connection is dropped (its late reply can never be read as another's); the
    next intents go pipelined; once Redis runs again the probe the rest scheduled brings the blocking
    way back by itself, and the next intent's reply is its own."""
    monkeypatch.setattr(store_module, "BLOCKING_RETRY_S", 0.05)
    scopes = kill_scopes("BTC-PERP", "default")
    intent = Order("", "BTC-PERP", Side.BUY, Decimal("100"), Decimal("1"), OrderStatus.PENDING, 1.0)
    store = RedisStore(own_redis.url, PREFIX, blocking_timeout_s=0.1)
    writer = store._writer  # noqa: SLF001
    admin = redis.Redis.from_url(own_redis.url, decode_responses=True)
    assert own_redis.proc is not None
    try:
        first, _ = await store.place_intent(intent, scopes, reducing=False)
        assert first is not None
        own_redis.proc.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(redis.TimeoutError):
                await store.place_intent(intent, scopes, reducing=False)
            assert writer._connection is None and writer._resting is not None  # noqa: SLF001
        finally:
            own_redis.proc.send_signal(signal.SIGCONT)
        pending = store.place_intent(intent, scopes, reducing=False)
        assert not (isinstance(pending, asyncio.Future) and pending.done())  # resting: pipelined
        assert (await pending)[0] is not None
        deadline = time.monotonic() + 5
        while writer._resting is not None:  # noqa: SLF001  (no intent is asked to find out)
            assert time.monotonic() < deadline, "the probe never brought the blocking way back"
            await asyncio.sleep(0.02)
        now = store.place_intent(intent, scopes, reducing=False)
        assert isinstance(now, asyncio.Future) and now.done()  # at once again
        cid, _ = await now
        assert cid == f"{cid.rsplit('-', 1)[0]}-{admin.get(store.keys.order_seq('BTC-PERP'))}"  # the latest id
    finally:
        admin.close()
        await store.close()
