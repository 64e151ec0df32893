"""SIGTERM during a burst of activity (issue 7): every working order is cancelled before exit
and the journal is consistent: exit 0, nothing resting at the venue, the Redis working-order hash
empty, and the journal stream's last entry for every client order id terminal."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

from tests.faults.support import TERMINAL, Daemon, snapshot
from tests.faults.test_crash import flipping_config
from tests.integration.support import wait_for, write_config

ROUNDS = 3


def test_sigterm_in_a_burst_cancels_everything_and_leaves_the_journal_terminal(
        prefix: str, redis_url: str, tmp_path: Path, daemons: list[Daemon]) -> None:
    rng = random.Random(4321)
    data = flipping_config(prefix, every_s=0.5)
    execution = data["instruments"][0]["execution"]
    execution.update(max_working_orders=4, min_order_lifetime_ms=0, reprice_tolerance_ticks=0)
    data["instruments"][0]["risk"]["max_position"] = "5"
    data["engine"]["order_rate_per_s"] = 200
    config = write_config(tmp_path / "c.yaml", data)
    for i in range(ROUNDS):
        daemon = Daemon(config, tmp_path / f"run{i}.log")
        daemons.append(daemon)
        daemon.wait_event("reconcile.done", 20)
        # a burst: wait for a fair amount of order traffic, then strike right after an action
        def busy() -> bool:
            names = daemon.names()
            assert daemon.alive(), daemon.tail()
            return sum(n in ("order.placed", "order.repriced", "order.cancelled") for n in names) >= 12
        wait_for(busy, 20, interval=0.01, what="a burst of order actions")
        time.sleep(rng.uniform(0.0, 0.3))
        assert daemon.stop(signal.SIGTERM) == 0, daemon.tail()
        events = daemon.events()
        assert events[-1]["event"] == "daemon.stopped"
        assert events[-1]["working_orders"] == 0

        snap = snapshot(redis_url, prefix)
        assert snap.resting == [], f"round {i}: orders left resting at the venue: {snap.resting}"
        assert snap.orders == {}, f"round {i}: working orders left in the journal hash: {list(snap.orders)}"
        last = snap.last_journal_status()
        open_ended = {cid: status for cid, status in last.items() if status not in TERMINAL}
        assert not open_ended, f"round {i}: journal entries not terminal: {open_ended}"
        assert not snap.problems(4)
        assert not snap.agreement(), f"round {i}: {snap.agreement()}"
        placed = [e for e in events if e["event"] == "order.placed"]
        assert {e["client_order_id"] for e in placed} <= set(last), "an order placed but never journalled"
