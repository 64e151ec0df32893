"""The order path's Redis step alone: a new order's intent journalled at once, as the engine does.

    taskset -c 0 python bench/order_path.py [--intents 5000] [--rounds 3] [--redis URL | --redis-here]

Times ``RedisStore.place_intent(..., at_once=True)`` under a lease, as the daemon sends it (kill
switches read, fencing token checked, client order id taken, the intent in the working set and
the journal: one script call on the store's blocking connection), from the call to the client
order id in hand, and beside it a ``PING`` on a connection of its own: the round trip's floor on
this machine. Each round runs both in turn; reported per round: p50 and p99 in µs, and Redis's
own time per script call (``INFO commandstats``: every client's, so use a Redis nobody else is
using, such as ``--redis-here``). The key prefix is deleted afterwards.

With ``--redis-here`` the bench starts its own Redis on a unix socket, which inherits this
process's CPU affinity (with ``taskset -c 0``: the same core). See ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from decimal import Decimal

import redis

from bot.core.types import Order, OrderStatus, Side
from bot.state.base import kill_scopes
from bot.state.store import RedisStore
from redis_here import add_redis_arguments, redis_url

SYMBOL = "BTC-PERP"
LEASE_MS = 3_600_000
"""The bench owns its instrument as the daemon does: each intent checks the fencing token."""


def _quantiles(samples_ns: list[int]) -> tuple[float, float]:
    """p50 and p99 in µs."""
    cuts = statistics.quantiles(samples_ns, n=100, method="inclusive")
    return cuts[49] / 1e3, cuts[98] / 1e3


async def run(args: argparse.Namespace) -> None:
    store = RedisStore(args.redis, f"bench:{uuid.uuid4().hex[:8]}")
    client = redis.Redis.from_url(args.redis)
    pinger = client.connection_pool.get_connection()
    scopes = kill_scopes(SYMBOL, "default")
    intent = Order("", SYMBOL, Side.BUY, Decimal("60000.5"), Decimal("0.01"), OrderStatus.PENDING, 0.0,
                   target=Decimal("1"), reason="bench")
    try:
        await store.ping()
        assert await store.acquire_lease(SYMBOL, "bench", LEASE_MS) is not None  # every intent checks its token
        await store.place_intent(intent, scopes, reducing=False)  # connects and loads the scripts
        print("| round | intent p50 µs | intent p99 µs | PING p50 µs | PING p99 µs | Redis µs per script |")
        print("|---:|---:|---:|---:|---:|---:|")
        for round_no in range(1, args.rounds + 1):
            before = client.info("commandstats").get("cmdstat_evalsha", {"calls": 0, "usec": 0})
            intents, pings = [], []
            for _ in range(args.intents):
                started = time.perf_counter_ns()
                reply = store.place_intent(intent, scopes, reducing=False)
                assert isinstance(reply, asyncio.Future) and reply.done(), "the intent did not go at once"
                cid, _ = reply.result()
                intents.append(time.perf_counter_ns() - started)
                assert cid is not None
            after = client.info("commandstats")["cmdstat_evalsha"]
            for _ in range(args.intents):
                started = time.perf_counter_ns()
                pinger.send_command("PING")
                pinger.read_response()
                pings.append(time.perf_counter_ns() - started)
            script_us = (after["usec"] - before["usec"]) / max(1, after["calls"] - before["calls"])
            (i50, i99), (p50, p99) = _quantiles(intents), _quantiles(pings)
            print(f"| {round_no} | {i50:.1f} | {i99:.1f} | {p50:.1f} | {p99:.1f} | {script_us:.1f} |")
    finally:
        keys = list(client.scan_iter(match=f"{store.keys.prefix}*"))
        if keys:
            client.delete(*keys)
        client.connection_pool.release(pinger)
        client.close()
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=5000, help="intents (and PINGs) a round")
    parser.add_argument("--rounds", type=int, default=3)
    add_redis_arguments(parser)
    args = parser.parse_args()
    with redis_url(args) as args.redis:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
