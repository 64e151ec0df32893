"""The engine bench still runs (a few thousand events; no timing is asserted: speed targets live
in ``docs/benchmarks.md``), and it leaves no keys in Redis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
