"""`scalebot kill` against a running daemon: every working order cancelled within 1 s, nothing new
placed, the switch survives a restart, and `scalebot resume` lets the daemon trade again."""

from __future__ import annotations

import time
from pathlib import Path

from tests.integration.support import QUIET_MARKET, DaemonProcess, cli, config_dict, resting, wait_for, write_config


def _placed_after(events: list[dict], event_name: str) -> list[dict]:
    names = [e["event"] for e in events]
    start = names.index(event_name)
    return [e for e in events[start:] if e["event"] == "order.placed"]


def test_kill_cancels_within_a_second_and_holds_across_restart(prefix: str, redis_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", config_dict(prefix, target="2", **QUIET_MARKET))
    daemon = DaemonProcess(config, tmp_path / "run1.log")
    try:
        wait_for(lambda: resting(redis_url, prefix), 20, what="a working order")
        result = cli("kill", "--config", str(config), "--reason", "test halt")
        killed_at = time.monotonic()
        assert result.returncode == 0, result.stderr
        wait_for(lambda: not resting(redis_url, prefix), 1.0, what="every order cancelled")
        assert time.monotonic() - killed_at <= 1.0
        time.sleep(1.5)  # nothing new may be placed while the switch is engaged
        assert resting(redis_url, prefix) == []
    finally:
        assert daemon.stop() == 0
    events = daemon.events()
    engaged = [e for e in events if e["event"] == "kill_switch.engaged"]
    assert engaged and engaged[0]["reason"] == "test halt"
    assert _placed_after(events, "kill_switch.engaged") == []
    assert any(e["event"] == "order.cancelled" and "kill switch" in e["reason"] for e in events)

    status = cli("status", "--config", str(config), "--json")
    assert '"reason": "test halt"' in status.stdout

    restarted = DaemonProcess(config, tmp_path / "run2.log")
    try:
        wait_for(lambda: any(e["event"] == "daemon.started" for e in restarted.events()), 15, what="restart")
        time.sleep(1.5)
        assert [e for e in restarted.events() if e["event"] == "order.placed"] == []
        assert cli("resume", "--config", str(config), "--reason", "test over").returncode == 0
        wait_for(lambda: resting(redis_url, prefix), 10, what="orders after resume")
    finally:
        assert restarted.stop() == 0
    assert any(e["event"] == "kill_switch.lifted" for e in restarted.events())
