"""Helpers for tests that run the daemon: configs, subprocess runs, the simulated venue's state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import redis
import yaml

from bot.state.keys import Keys

REPO = Path(__file__).resolve().parents[2]


QUIET_MARKET = {"trades_per_s": 0.5, "trade_size": 0.05, "level_size": 50.0, "annual_vol": 0.05}
"""A market where our orders rest (long queues, few small trades, little movement)."""


def config_dict(prefix: str, target: str = "0.5", **market: Any) -> dict[str, Any]:
    """A small, fast paper config: one simulated linear BTC perpetual, a fixed target."""
    return {
        "mode": "paper",
        "redis": {"prefix": prefix},
        "venue": {"type": "simulated", "seed": 7, "speed": 4, "markets": {"BTC-PERP": {
            "price": 60000, "tick_size": "0.5", "lot_size": "0.001", "min_notional": "5",
            "level_size": 1.0, "trades_per_s": 12, "trade_size": 0.4, **market,
        }}},
        "instruments": [{
            "symbol": "BTC-PERP",
            "policy": {"type": "target_schedule", "steps": [{"after_s": 0, "target": target}]},
            "execution": {"max_order_size": "0.1", "min_order_lifetime_ms": 300, "max_working_orders": 2},
            "risk": {"max_position": "5", "max_order_size": "0.5", "stale_after_ms": 3000},
        }],
        "engine": {"order_rate_per_s": 50, "kill_poll_ms": 250},
        "logging": {"level": "info", "format": "json"},
    }


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


class DaemonProcess:
    """``python -m bot run`` in a subprocess with JSON logs captured to a file."""

    def __init__(self, config: Path, log: Path):
        self.log = log
        self._out = open(log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config)],
                                     stdout=self._out, stderr=subprocess.STDOUT, cwd=REPO, env=dict(os.environ))

    def events(self) -> list[dict[str, Any]]:
        """The log's events so far: whole lines only (the process may be writing the last one)."""
        text = self.log.read_text()
        lines = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Send ``sig`` and wait; a process that does not exit in time is killed (never leaked)
        and the wait's TimeoutExpired raised."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self._out.close()


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def sim_state(redis_url: str, prefix: str, symbol: str = "BTC-PERP") -> dict[str, Any] | None:
    """The simulated venue's saved account for ``symbol``."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        raw = client.get(Keys(prefix).sim_state(symbol))
    finally:
        client.close()
    return json.loads(raw) if raw else None


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.02, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def resting(redis_url: str, prefix: str) -> list[dict[str, Any]]:
    state = sim_state(redis_url, prefix)
    return [r["order"] for r in state["exchange"]["resting"]] if state else []
