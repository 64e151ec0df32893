"""Helpers for the fault-injection tests: daemons that are always reaped, a redis-server of the
test's own that can be stopped and restarted on the same port, and atomic snapshots of the
journal (Redis) next to the simulated venue's account."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.state.keys import Keys
from tests.integration.support import REPO, DaemonProcess, wait_for

SYMBOL = "BTC-PERP"
TERMINAL = {"filled", "cancelled", "rejected"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon(DaemonProcess):
    """:class:`DaemonProcess` with extra environment, tolerant log parsing (a line may be half
    written while we read it, or cut by SIGKILL) and helpers to wait on log events."""

    def __init__(self, config: Path, log: Path, env: dict[str, str] | None = None):
        self.log = log
        self._out = open(log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config)],
                                     stdout=self._out, stderr=subprocess.STDOUT, cwd=REPO,
                                     env={**os.environ, **(env or {})})

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.text().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass  # the line being written right now
        return out

    def names(self) -> list[str]:
        return [e["event"] for e in self.events()]

    def wait_event(self, name: str, timeout: float, after: int = 0) -> list[dict[str, Any]]:
        """Events (from index ``after``) once one named ``name`` is among them; fails early if
        the daemon exits."""
        def seen() -> list[dict[str, Any]] | None:
            events = self.events()
            if any(e["event"] == name for e in events[after:]):
                return events
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited ({self.proc.returncode}) before {name!r}:\n{self.tail()}")
            return None
        return wait_for(seen, timeout, interval=0.05, what=name)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> int:
        return self.stop(signal.SIGKILL, timeout=10)

    def reap(self) -> None:
        """Teardown: make sure the process is gone, whatever happened."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if not self._out.closed:
            self._out.close()


class RedisServer:
    """A redis-server of the test's own on a spare loopback port; ``stop`` and ``start`` again on
    the same port. ``--save ''`` without AOF: it comes back empty; ``persistent=True`` keeps an
    append-only file (fsync always) in a temporary directory, so it comes back with its data."""

    def __init__(self, persistent: bool = False):
        server = shutil.which("redis-server")
        if server is None:
            pytest.skip("redis-server is not installed")
        self.binary = server
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="scalebot-faults-redis-")
        self.persistent = persistent
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        persistence = (["--appendonly", "yes", "--appendfsync", "always"] if self.persistent
                       else ["--appendonly", "no"])
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence,
             "--dir", self.dir, "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.ping, 10, interval=0.02, what=f"redis-server on port {self.port}")

    def ping(self) -> bool:
        try:
            client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except (redis.RedisError, OSError):
            return False

    def stop(self) -> None:
        """SIGTERM, as an operator or the init system would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Snapshot:
    """The journal and the simulated venue's account, read in one MULTI/EXEC."""

    sim: dict[str, Any] | None
    orders: dict[str, dict[str, Any]]
    position: Decimal
    fill_ids: set[str]
    fills_stream: list[str]
    journal: list[dict[str, Any]]

    @property
    def resting(self) -> list[dict[str, Any]]:
        return [r["order"] for r in self.sim["exchange"]["resting"]] if self.sim else []

    @property
    def venue_position(self) -> Decimal:
        return Decimal(self.sim["exchange"]["positions"][SYMBOL]) if self.sim else Decimal(0)

    @property
    def venue_fill_ids(self) -> set[str]:
        return {f["trade_id"] for f in self.sim["exchange"]["fills"]} if self.sim else set()

    def last_journal_status(self) -> dict[str, str]:
        last: dict[str, str] = {}
        for entry in self.journal:
            last[entry["client_order_id"]] = entry["status"]
        return last

    def problems(self, max_working: int) -> list[str]:
        """What must hold at every instant once reconcile is done (nothing racy)."""
        out = []
        cids = [o["client_order_id"] for o in self.resting]
        if len(cids) != len(set(cids)):
            out.append(f"duplicate client order ids resting at the venue: {cids}")
        unknown = sorted(set(cids) - set(self.orders))
        if unknown:
            out.append(f"orders resting at the venue that the journal does not know: {unknown}")
        if len(cids) > max_working:
            out.append(f"{len(cids)} orders resting at the venue (max_working_orders {max_working}): {cids}")
        if len(self.fills_stream) != len(set(self.fills_stream)):
            dups = sorted({t for t in self.fills_stream if self.fills_stream.count(t) > 1})
            out.append(f"duplicate trade ids in the fills stream: {dups}")
        if set(self.fills_stream) != self.fill_ids:
            out.append(f"fills stream and fill_ids set differ: {sorted(set(self.fills_stream) ^ self.fill_ids)}")
        return out

    def agreement(self) -> list[str]:
        """Journal vs venue: position and applied fills (may lag by one in-flight fill)."""
        out = []
        if self.venue_position != self.position:
            out.append(f"position: venue {self.venue_position} != Redis {self.position}")
        if self.venue_fill_ids != self.fill_ids:
            out.append(f"fills only at the venue: {sorted(self.venue_fill_ids - self.fill_ids)}; "
                       f"only in Redis: {sorted(self.fill_ids - self.venue_fill_ids)}")
        return out


def sim_state_key(keys: Keys, symbol: str) -> str:
    """Where the simulated venue keeps an instrument's account."""
    return keys.sim_state(symbol)


def snapshot(url: str, prefix: str, symbol: str = SYMBOL) -> Snapshot:
    keys = Keys(prefix)
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        pipe = client.pipeline(transaction=True)
        pipe.get(sim_state_key(keys, symbol))
        pipe.hgetall(keys.orders(symbol))
        pipe.hget(keys.position(symbol), "size")
        pipe.smembers(keys.fill_ids(symbol))
        pipe.xrange(keys.fills(symbol))
        pipe.xrange(keys.journal(symbol))
        sim, orders, size, fill_ids, fills, journal = pipe.execute()
    finally:
        client.close()
    return Snapshot(
        sim=json.loads(sim) if sim else None,
        orders={cid: json.loads(v) for cid, v in orders.items()},
        position=Decimal(size) if size is not None else Decimal(0),
        fill_ids=set(fill_ids),
        fills_stream=[json.loads(f["fill"])["trade_id"] for _, f in fills],
        journal=[json.loads(f["order"]) for _, f in journal],
    )


def wait_agreement(url: str, prefix: str, timeout: float, max_working: int) -> Snapshot:
    """Poll atomic snapshots until the journal agrees with the venue (a fill may be in flight
    between the venue's save and the engine's write); invariants must hold on every snapshot."""
    deadline = time.monotonic() + timeout
    while True:
        snap = snapshot(url, prefix)
        problems = snap.problems(max_working)
        assert not problems, problems
        disagreement = snap.agreement()
        if not disagreement:
            return snap
        if time.monotonic() > deadline:
            raise AssertionError(f"journal never agreed with the venue within {timeout}s: {disagreement}")
        time.sleep(0.02)
