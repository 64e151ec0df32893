"""Engine throughput: market events through the engines with the simulated exchange and Redis.

    taskset -c 0 python bench/engine.py [--events 1000000] [--instruments 100] [--rate R | --burst 100]
                                        [--warmup 10000] [--redis redis://127.0.0.1:6379/0 | --redis-here]
                                        [--profile FILE]

Books and trades come from the simulated market, generated in untimed chunks of 2,000 events,
each dropped once fed (a market step is a book and the trades printed since the previous one);
the engines' monotonic clock is the timed one, so a generation pause makes no decision look late. A dispatcher feeds them the way the daemon
does with the simulated venue: each step's trades and book go to the simulated exchange, which
matches our resting orders against them, then the book and the trades to the instrument's engine
and the exchange's order updates (our fills) to ``on_order_update``, awaited as the daemon awaits
them. With ``--rate R``, event *k* arrives at *k*/R s and each turn of the event loop takes every
event that has arrived; without, the dispatcher takes ``--burst`` events a turn. Each engine runs
its own decision task (``InstrumentEngine.run``, as under the daemon): it decides when something
changed since its last decision, on the latest state (conflation). Orders go to the simulated
exchange, every journal write and kill-switch read to Redis on loopback: a new order's intent at
once over the blocking connection while the engine keeps up, pipelined once it is behind. As
the daemon does, the objects made at startup are frozen out of the garbage collector.

Reported (the numbers ``docs/benchmarks.md`` quotes):

* events/s: market events (books + trades) over the timed wall time (feeding and deciding until
  every engine is idle; generation excluded), and the same per CPU second of this process;
* decisions and order actions;
* event→action p50/p99 (decisions on events after the first ``--warmup``, when every instrument
  gets its first target at once): for each decision that sends an order action, from the arrival of the
  first market event that this decision is the first to see (the moment the dispatcher takes it)
  to the first order action the decision sends (the call to the venue). It includes waiting for
  the CPU (the rest of the burst, the dispatcher, other engines' work), the decision itself and
  the Redis round trip that checks the kill switch and journals the intent;
* decision→action p50/p99: from the start of that decision to its first order action;
* decision→order decided p50/p99: from the start of that decision to its first order action
  decided (before the journal round trip a new order or reprice waits for);
* Redis round trips per decision (requests this process wrote to Redis, either connection: a
  pipeline is one), and
  the commands Redis counted per decision (a script counts once plus once per command it runs);
* peak RSS.

Run it on one core with ``taskset -c 0``. The key prefix is deleted afterwards. With
``--redis-here`` the bench starts its own Redis, which inherits that affinity: the engine and
Redis then share the one core, and a round trip to Redis needs no wake-up across cores (on a VM
that wake-up can cost more than the rest of the round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import itertools
import random
import resource
import time
import uuid
from decimal import Decimal
from typing import Any, Iterator

import redis
import redis.asyncio.connection as aioredis_connection
import redis.connection as redis_connection
import uvloop
from bot.throttle import OrderBudget

from bot.core.planner import ExecutionParams
from bot.core.policies.volatility_target import Params as VolTarget
from bot.core.risk import RiskLimits
from bot.core.types import Book, InstrumentSpec, Trade
from bot.engine import InstrumentEngine
from bot.log import configure
from bot.portfolio import Portfolio
from bot.state.store import RedisStore
from bot.venues.simulated.market import MarketParams, SimulatedMarket
from bot.venues.simulated.venue import SimInstrument, SimulatedVenue
from redis_here import add_redis_arguments, redis_url

BURST = 100
"""Market events the dispatcher takes in before it yields to the event loop (one read's worth)."""
WARMUP = 10_000
"""Events before latencies count: the first targets of every instrument come at once (about the
fifth book of each), a one-off burst of decisions that is startup, not steady state."""
CHUNK = 2_000
"""Events generated at a time (untimed; about 3 MB of books and trades), so memory does not grow
with the event count; a chunk is dropped once fed."""

Step = tuple[Book, list[Trade]]


def _instrument(i: int) -> SimInstrument:
    spec = InstrumentSpec(f"SIM{i:03d}", Decimal("0.5"), Decimal("0.001"), Decimal("0.001"),
                          min_notional=Decimal(5), maker_fee_bps=Decimal("-0.5"), taker_fee_bps=Decimal(5))
    return SimInstrument(spec, MarketParams(price=60_000 + 100 * i, tick=Decimal("0.5"), lot=Decimal("0.001")))


def _step_chunks(instruments: list[SimInstrument], count: int, seed: int) -> Iterator[list[Step]]:
    """Market steps (a book and the trades before it) round-robin over the instruments, in chunks
    of about ``CHUNK`` events, ``count`` events in all."""
    rng = random.Random(seed)
    markets = [SimulatedMarket(i.spec.symbol, i.market, random.Random(rng.random())) for i in instruments]
    ts, made = time.time(), 0
    while made < count:
        chunk: list[Step] = []
        size = 0
        while size < min(CHUNK, count - made):
            for market in markets:
                ts += 0.0005
                trades = market.step(ts)
                chunk.append((market.book(ts, 5), trades))
                size += 1 + len(trades)
                if size >= min(CHUNK, count - made):
                    break
        over = made + size - count
        if over > 0:  # the last step loses trades to hit the count exactly
            book, trades = chunk[-1]
            chunk[-1] = (book, trades[:len(trades) - over])
            size -= over
        made += size
        yield chunk


class _Timing:
    def __init__(self) -> None:
        self.event_to_action: list[float] = []
        self.decision_to_action: list[float] = []
        self.decision_to_order: list[float] = []
        self.decisions = 0
        self.feed_only = False


class _BenchEngine(InstrumentEngine):
    """The engine with measurement hooks only: when its oldest unseen event arrived, when its
    current decision started and whether that decision has sent an order action yet."""

    def __init__(self, timing: _Timing, **kwargs: Any):
        super().__init__(**kwargs)
        self.timing = timing
        self.arrived: float | None = None
        self.arrived_measured = False
        self.seen: float | None = None
        self.seen_measured = False
        self.started = 0.0
        self.acted = self.decided = True
        self.busy = False

    async def decide(self) -> None:
        self.seen, self.seen_measured, self.arrived = self.arrived, self.arrived_measured, None
        self.started, self.acted, self.decided, self.busy = _clock(), False, False, True
        try:
            if not self.timing.feed_only:
                await super().decide()
        finally:
            self.busy = False
            self.timing.decisions += 1

    async def _execute(self, action: Any) -> None:
        if not self.decided and self.seen_measured:  # the decision's first order, before its journal round trip
            self.timing.decision_to_order.append(_clock() - self.started)
        self.decided = True
        await super()._execute(action)

    def action_out(self) -> None:
        if self.acted:
            return
        self.acted = True
        if not self.seen_measured:  # warming up
            return
        now = _clock()
        self.timing.decision_to_action.append(now - self.started)
        if self.seen is not None:
            self.timing.event_to_action.append(now - self.seen)


class _BenchVenue(SimulatedVenue):
    """The simulated venue, noting when each engine's order action goes out."""

    engines: dict[str, _BenchEngine]

    async def place_order(self, request: Any) -> Any:
        self.engines[request.symbol].action_out()
        return await super().place_order(request)

    async def amend_order(self, symbol: str, client_order_id: str, price: Decimal) -> Any:
        self.engines[symbol].action_out()
        return await super().amend_order(symbol, client_order_id, price)

    async def cancel_order(self, symbol: str, client_order_id: str) -> Any:
        self.engines[symbol].action_out()
        return await super().cancel_order(symbol, client_order_id)


def _count_round_trips() -> list[int]:
    """Count every request this process writes to Redis (a command or a whole pipeline), on the
    asyncio connections and on the blocking one that sends intents at once."""
    sent = [0]
    pipelined = aioredis_connection.AbstractConnection.send_packed_command
    blocking = redis_connection.AbstractConnection.send_packed_command

    async def counting(self: Any, command: Any, check_health: bool = True) -> None:
        sent[0] += 1
        await pipelined(self, command, check_health)

    def counting_blocking(self: Any, command: Any, check_health: bool = True) -> None:
        sent[0] += 1
        blocking(self, command, check_health)

    aioredis_connection.AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    redis_connection.AbstractConnection.send_packed_command = counting_blocking  # type: ignore[method-assign]
    return sent


async def run(args: argparse.Namespace) -> None:
    configure("json", "error")
    prefix = f"bench:{uuid.uuid4().hex[:8]}"
    instruments = [_instrument(i) for i in range(args.instruments)]
    chunks = _timed(_step_chunks(instruments, args.events, args.seed))
    first = next(chunks)
    round_trips = _count_round_trips()
    store = RedisStore(args.redis, prefix)
    await store.ping()
    for inst in instruments:  # owned as under the daemon: every journal write checks the fencing token
        assert await store.acquire_lease(inst.spec.symbol, "bench", LEASE_MS) is not None
    venue = _BenchVenue(instruments, seed=args.seed)
    await venue.connect([i.spec.symbol for i in instruments])
    await venue.close()  # its own market loop is not used: the bench feeds the steps
    now = [first[0][0].ts]
    clock = lambda: now[0]  # noqa: E731  (simulated time: the latest event's)
    portfolio = Portfolio(1_000_000.0, [])
    throttler = OrderBudget(rate_limit=1_000_000, period=1.0)
    timing = _Timing()
    timing.feed_only = args.feed_only
    engines: dict[str, _BenchEngine] = {}
    for inst in instruments:
        policy = VolTarget(target_vol=0.3, capital_usd=20_000, min_samples=5, max_position=Decimal(5))
        engines[inst.spec.symbol] = _BenchEngine(
            timing, spec=inst.spec, policy=policy,
            execution=ExecutionParams(Decimal("0.05"), min_order_lifetime_s=0.2),
            limits=RiskLimits(Decimal(10), Decimal(1), stale_after_s=3600), sample_interval_s=0.01,
            venue=venue, store=store, throttler=throttler, clock=clock, monotonic=_clock, portfolio=portfolio)
    venue.engines = engines
    exchanges = {symbol: venue._exchanges[symbol] for symbol in engines}  # noqa: SLF001  (matching, as venue.step does)
    queue = venue._queue  # noqa: SLF001  (follow-up updates of IOC orders, as venue.events() yields them)
    client = redis.Redis.from_url(args.redis)
    commands_before = client.info("stats")["total_commands_processed"]
    trips_before = round_trips[0]
    gc.collect()
    gc.freeze()  # as the daemon does once started
    runners = [asyncio.create_task(e.run()) for e in engines.values()]
    await asyncio.sleep(0)
    profile = cProfile.Profile() if args.profile else None
    events = fills = turns = 0
    elapsed = cpu = 0.0
    rate = args.rate
    cap = args.burst or 1 << 62
    lag = 0.0
    stream = itertools.chain((first,), chunks)
    del first
    for chunk in stream:
        started, cpu_started = _clock(), time.process_time()
        if profile:
            profile.enable()
        # the schedule runs on timed time only: generating the next chunk (untimed) pauses it
        origin = started - elapsed
        pos = 0
        while pos < len(chunk):
            now_s = _clock()
            due = (now_s - origin) * rate if rate else float("inf")  # events arrived by now
            if rate and events >= due:  # nothing has arrived: wait for the next event
                wait = (events + 1) / rate - (now_s - origin)
                await asyncio.sleep(wait if wait > 0.002 else 0)
                continue
            taken = 0
            while pos < len(chunk) and taken < cap and events < due:
                book, trades = chunk[pos]
                pos += 1
                symbol = book.symbol
                engine = engines[symbol]
                if engine.arrived is None:  # the first event this engine's next decision sees
                    engine.arrived = origin + events / rate if rate else _clock()
                    engine.arrived_measured = events >= args.warmup
                now[0] = book.ts
                venue._books[symbol] = book  # noqa: SLF001  (what the exchange matches new orders against)
                updates = exchanges[symbol].on_market(book, trades)
                engine.on_book(book)
                for trade in trades:
                    engine.on_trade(trade)
                for update in updates:
                    fills += update.fill is not None
                    await engine.on_order_update(update)
                while not queue.empty():
                    update = queue.get_nowait()
                    await engines[update.symbol].on_order_update(update)
                taken += 1 + len(trades)
                events += 1 + len(trades)
            if rate:
                lag = max(lag, _clock() - origin - events / rate)
            turns += 1
            await asyncio.sleep(0)  # the engines' turn
        if profile:
            profile.disable()
        elapsed += _clock() - started
        cpu += time.process_time() - cpu_started
        del chunk  # not kept while the next one is generated
    started, cpu_started = _clock(), time.process_time()
    await _idle(engines, store)
    elapsed += _clock() - started
    cpu += time.process_time() - cpu_started
    if profile:
        profile.dump_stats(args.profile)
    trips = round_trips[0] - trips_before
    commands = client.info("stats")["total_commands_processed"] - commands_before - 1
    for runner in runners:
        runner.cancel()
    await asyncio.gather(*runners, return_exceptions=True)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
    await store.close()
    decisions = timing.decisions
    actions = sum(e._actions for e in engines.values())  # noqa: SLF001

    def p(q: float, xs: list[float]) -> str:
        xs = sorted(xs)
        return f"{xs[min(len(xs) - 1, int(q * len(xs)))] * 1e6:,.0f}" if xs else "-"

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    offered = f"{rate:,.0f} events/s offered, most behind {lag * 1e3:,.1f} ms" if rate else "as fast as it goes"
    halted = sum(e.kill is not None for e in engines.values())
    print(f"{offered}; at most {args.burst or 'all arrived'} events a turn, {events / max(turns, 1):,.0f} on average; "
          f"{elapsed:.1f} s timed, {cpu:.1f} s CPU; {fills:,} fills; {halted} instruments halted by a guard")
    print("| events | instruments | events/s | events/CPU s | decisions | order actions | event→action p50 µs "
          "| p99 µs | decision→action p50 µs | p99 µs | decision→order decided p50 µs | p99 µs "
          "| Redis round trips/decision | Redis cmds/decision | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {events:,} | {args.instruments} | {events / elapsed:,.0f} | {events / cpu:,.0f} | {decisions:,} | "
          f"{actions:,} | {p(0.5, timing.event_to_action)} | {p(0.99, timing.event_to_action)} | "
          f"{p(0.5, timing.decision_to_action)} | {p(0.99, timing.decision_to_action)} | "
          f"{p(0.5, timing.decision_to_order)} | {p(0.99, timing.decision_to_order)} | "
          f"{trips / max(decisions, 1):.2f} | {commands / max(decisions, 1):.2f} | {rss:.0f} |")


async def _idle(engines: dict[str, _BenchEngine], store: RedisStore) -> None:
    """Until every engine has decided on what it was given and Redis has answered every write."""
    while any(e.busy or e._wake.is_set() for e in engines.values()):  # noqa: SLF001
        await asyncio.sleep(0)
    await store.flush()


def _timed(rest: Iterator[list[Step]]) -> Iterator[list[Step]]:
    """The chunks, each generated while the timed clock stands still (none is kept once fed)."""
    while True:
        paused = time.perf_counter()
        chunk = next(rest, None)
        _PAUSED[0] += time.perf_counter() - paused
        if chunk is None:
            return
        yield chunk
        del chunk


LEASE_MS = 3_600_000
"""The bench's leases on its instruments (they outlast any run; the key prefix is deleted after)."""
_PAUSED = [0.0]
"""Seconds spent generating events (the event loop stands still meanwhile)."""


def _clock() -> float:
    """The timed clock: wall time (s) less the time spent generating events, so no time
    measured includes generation (decisions and Redis replies wait for it to end)."""
    return time.perf_counter() - _PAUSED[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--instruments", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="events/s offered (each event arrives on that schedule; 0: all at once)")
    parser.add_argument("--burst", type=int, default=None,
                        help=f"most events taken in a turn before yielding to the loop (0: no limit); default "
                             f"{BURST} unpaced, no limit with --rate")
    parser.add_argument("--feed-only", action="store_true",
                        help="engines take the events but never decide (the cost of feeding alone)")
    parser.add_argument("--warmup", type=int, default=WARMUP,
                        help="latencies are measured for decisions on events after this many (default %(default)s)")
    add_redis_arguments(parser)
    parser.add_argument("--profile", help="write a cProfile of the timed part (generation excluded) here")
    args = parser.parse_args()
    if args.burst is None:
        args.burst = 0 if args.rate else BURST
    with redis_url(args) as args.redis:
        uvloop.run(run(args))


if __name__ == "__main__":
    main()
