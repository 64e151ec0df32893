"""A lease lost while reconciling (a process paused right after acquiring it, say) is a lost
lease, not a crash: the daemon logs it and waits for the lease again, and trades once it has it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from structlog.testing import capture_logs

from bot.config import load_config
from bot.daemon import Daemon
from bot.errors import ExitCode
from bot.state.store import Fenced

from tests.integration.support import config_dict, write_config


async def test_a_fenced_write_during_reconcile_loses_the_lease_without_crashing(
        redis_url: str, prefix: str, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SCALEBOT_REDIS_URL", redis_url)
    data = config_dict(prefix)
    data["engine"]["lease_ms"] = 600
    daemon = Daemon(load_config(write_config(tmp_path / "c.yaml", data)))
    reconcile = daemon._reconcile  # noqa: SLF001
    calls = []

    async def fenced_once(engine, why):  # type: ignore[no-untyped-def]
        calls.append(why)
        if len(calls) == 1:
            await daemon.store.release_lease(engine.symbol, daemon.instance)  # another instance's turn
            raise Fenced(f"{engine.symbol}: lease token is stale; another instance owns it")
        await reconcile(engine, why)

    monkeypatch.setattr(daemon, "_reconcile", fenced_once)
    stop = asyncio.Event()
    with capture_logs() as logs:
        running = asyncio.create_task(daemon.run(stop))
        for _ in range(200):  # the lease again, then an order placed (at most 10 s)
            await asyncio.sleep(0.05)
            if any(e["event"] == "order.placed" for e in logs):
                break
        stop.set()
        code = await asyncio.wait_for(running, 15)
    events = [e["event"] for e in logs]
    assert code == ExitCode.OK and "daemon.crashed" not in events
    lost = [e for e in logs if e["event"] == "lease.lost"]
    assert lost and lost[0]["reason"] == "fenced write in reconcile"
    assert events.count("lease.acquired") >= 2 and len(calls) >= 2
    assert "order.placed" in events, "trading resumed once the lease came back"
