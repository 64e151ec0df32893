"""The engine and order-path benches still run (a few thousand events, a few hundred intents; no
timing is asserted: speed targets live in ``docs/benchmarks.md``); the engine bench leaves no keys
in the Redis it used, the order-path one runs on a Redis of its own (``--redis-here``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[1]


def test_the_engine_bench_runs_and_cleans_up(redis_url: str) -> None:
    before = set(redis.Redis.from_url(redis_url).scan_iter(match="bench:*"))
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "engine.py"), "--events", "3000", "--instruments", "10",
                           "--warmup", "0", "--redis", redis_url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    row = done.stdout.strip().splitlines()[-1].strip("|").split("|")
    events, instruments, decisions, actions = (int(row[i].replace(",", "")) for i in (0, 1, 4, 5))
    assert (events, instruments) == (3000, 10)
    assert decisions > 0 and actions > 0, done.stdout
    assert set(redis.Redis.from_url(redis_url).scan_iter(match="bench:*")) == before


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not on PATH")
def test_the_order_path_bench_runs_on_its_own_redis() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "order_path.py"), "--intents", "200", "--rounds", "1",
                           "--redis-here"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    row = done.stdout.strip().splitlines()[-1].strip("|").split("|")
    intent_p50, intent_p99, ping_p50, ping_p99, script_us = (float(v) for v in row[1:])
    assert 0 < intent_p50 <= intent_p99 and 0 < ping_p50 <= ping_p99 and script_us > 0
