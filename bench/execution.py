"""Execution benchmark: the executor against three baselines on recorded market data.

    python bench/execution.py --data DIR [--seeds 1 2 3 4] [--queue power|conservative]
                              [--refresh-s 2] [--latency-ms 50] [--flow-share 1|off] [--json OUT]

``DIR`` holds a Tardis CSV recording (``incremental_book_L2`` and ``trades``), e.g. the Binance
BTCUSDT one described in docs/benchmarks.md. For each seed, a series of parent orders (target
changes) is drawn: sizes log-uniform from 0.1 to 5 times the recording's median top-of-book size,
sides at random, deadlines log-uniform from 5 s to 90 s, laid end to end (each starts 1 s after
the previous deadline) over the recording. Every strategy works the same series on its own
replay of the data (same :class:`~bot.venues.replay.venue.ReplayVenue`, fill model, latencies and
fees):

(a) ``executor``: the real :class:`~bot.engine.InstrumentEngine` and planner, one engine per
    parent with a ``target_schedule`` target and an urgency deadline 1 s before the parent's; it
    sees the public prints (the last minute's at its start, as a running engine would have) for
    the planner's queue-aware urgency;
(b) ``taker``: one IOC through the book at arrival (re-sent while anything is left);
(c) ``quoter``: post-only at the touch for what is left, cancelled and replaced every
    ``--refresh-s`` seconds, IOC for the rest 1 s before the deadline;
(d) ``twap``: ten equal IOC slices spread up to 1 s before the deadline.

IOC limits are the far touch ± 50 bp (the executor's own escalation uses its configured band).
Costs are implementation shortfall against the arrival mid including fees, in bps (positive =
cost; see bot/core/execution_metrics.py). It prints one table; ``--json`` also writes every
parent's report.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import random
import statistics
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.execution_metrics import ExecutionReport, ParentOrder, execution_report, is_done, summarize  # noqa: E402
from bot.core.fill_model import QueueModel  # noqa: E402
from bot.core.planner import ExecutionParams, Urgency  # noqa: E402
from bot.core.policies.target_schedule import Params as Schedule, ScheduleStep  # noqa: E402
from bot.core.risk import RiskLimits  # noqa: E402
from bot.core.rounding import passive_price, size_to_lot  # noqa: E402
from bot.core.types import ZERO, Book, Fill, InstrumentSpec, OrderStatus, OrderUpdate, Side, Trade  # noqa: E402
from bot.engine import InstrumentEngine  # noqa: E402
from bot.log import configure  # noqa: E402
from bot.replay import SimThrottler  # noqa: E402
from bot.state.memory import MemoryStore  # noqa: E402
from bot.venues.base import OrderRejected, OrderRequest, VenueError  # noqa: E402
from bot.venues.replay.venue import ReplayVenue  # noqa: E402

D = Decimal
SYMBOL = "BTCUSDT"
SPEC = InstrumentSpec(SYMBOL, tick_size=D("0.10"), lot_size=D("0.001"), min_size=D("0.001"), min_notional=D("100"),
                      base="BTC", quote="USDT", maker_fee_bps=D("2"), taker_fee_bps=D("5"))
MARGIN_S = 1.0
"""Every strategy starts its end game this long before the deadline."""
IOC_BAND_BPS = D(50)
N_TWAP = 10
EXECUTOR = ExecutionParams(
    max_order_size=D(50), reprice_tolerance_ticks=1, min_order_lifetime_s=1.0, max_working_orders=1,
    improve_when_spread_ticks=2, depth_fraction=None, layers=1)
"""The executor's settings (its urgency is set per parent: escalate at half the window, cross
``MARGIN_S`` before the deadline, queue-aware with ``FLOW_SHARE``); ``--executor KEY=VALUE``
overrides any field."""
FLOW_SHARE = 1.0
"""The executor's queue-aware urgency (``Urgency.flow_share``; ``--flow-share``)."""


@dataclass(frozen=True)
class Target:
    start_s: float
    """Seconds after the replay's first book."""
    qty: Decimal
    """Signed contracts."""
    window_s: float


def draw_schedule(seed: int, duration_s: float, depth: Decimal) -> list[Target]:
    """The seeded series: sizes 0.1–5 × ``depth`` (log-uniform), deadlines 5–90 s (log-uniform)."""
    rng = random.Random(seed)
    t = 1.0 + rng.uniform(0, 15)
    out = []
    while True:
        window = math.exp(rng.uniform(math.log(5), math.log(90)))
        if t + window > duration_s - 1:
            break
        size = size_to_lot(depth * D(repr(math.exp(rng.uniform(math.log(0.1), math.log(5))))), SPEC.lot_size)
        out.append(Target(t, size if rng.random() < 0.5 else -size, window))
        t += window + 1.0
    return out


# strategies -----------------------------------------------------------------------------------------
class Agent:
    """Works one parent order: ``qty`` signed contracts by ``deadline``."""

    def __init__(self, venue: ReplayVenue, qty: Decimal, start: float, deadline: float):
        self.venue, self.qty, self.start, self.deadline = venue, qty, start, deadline
        self.side = Side.of(qty)
        self.fills: list[Fill] = []
        self.book: Book | None = None
        self.live: dict[str, OrderStatus] = {}
        self.iocs: set[str] = set()
        self._n = 0

    @property
    def filled(self) -> Decimal:
        return sum((f.size * f.side.sign for f in self.fills), ZERO) * self.side.sign

    @property
    def remaining(self) -> Decimal:
        return abs(self.qty) - self.filled

    def done(self) -> bool:
        return is_done(SPEC, self.remaining, self.book.mid if self.book else None)

    async def on_book(self, book: Book) -> None:
        self.book = book

    def on_trade(self, trade: Trade) -> None:
        """A public print (only the executor reads them)."""

    async def on_update(self, update: OrderUpdate) -> None:
        if update.fill is not None:
            self.fills.append(update.fill)
        if update.status.is_live:
            self.live[update.client_order_id] = update.status
        else:
            self.live.pop(update.client_order_id, None)

    async def act(self, now: float) -> None: ...

    async def stop(self) -> None:
        for cid in list(self.live):
            await self._cancel(cid)

    def _cid(self) -> str:
        self._n += 1
        return f"{type(self).__name__.lower()}-{id(self) % 100000}-{self._n}"

    async def _send(self, request: OrderRequest) -> None:
        self.live[request.client_order_id] = OrderStatus.PENDING
        try:
            update = await self.venue.place_order(request)
        except OrderRejected:
            self.live.pop(request.client_order_id, None)
            return
        await self.on_update(update)

    async def _ioc(self, size: Decimal) -> None:
        far = self.book.touch(self.side.opposite) if self.book else None
        if far is None or size <= 0:
            return
        limit = passive_price(self.side, far * (1 + self.side.sign * IOC_BAND_BPS / 10_000), SPEC.tick_size)
        cid = self._cid()
        self.iocs.add(cid)
        await self._send(OrderRequest(SYMBOL, cid, self.side, limit, size, post_only=False, time_in_force="IOC"))

    async def _cancel(self, cid: str) -> None:
        if self.live.get(cid) is OrderStatus.CANCEL_PENDING:
            return
        try:
            update = await self.venue.cancel_order(SYMBOL, cid)
        except VenueError:
            self.live.pop(cid, None)
            return
        await self.on_update(update)


class Taker(Agent):
    async def act(self, now: float) -> None:
        if not self.live and not self.done():
            await self._ioc(size_to_lot(self.remaining, SPEC.lot_size))


class Twap(Agent):
    async def act(self, now: float) -> None:
        if self.live or self.done():
            return
        span = max(self.deadline - MARGIN_S - self.start, 0.0)
        due = min(N_TWAP, 1 + int((now - self.start) / (span / N_TWAP))) if span > 0 else N_TWAP
        slice_ = size_to_lot(abs(self.qty) / N_TWAP, SPEC.lot_size)
        behind = size_to_lot(slice_ * due - self.filled, SPEC.lot_size) if due < N_TWAP else self.remaining
        if behind > 0 and not is_done(SPEC, behind, self.book.mid if self.book else None):
            await self._ioc(size_to_lot(behind, SPEC.lot_size))


class Quoter(Agent):
    def __init__(self, *args: Any, refresh_s: float):
        super().__init__(*args)
        self.refresh_s = refresh_s
        self.placed_at: dict[str, float] = {}

    async def act(self, now: float) -> None:
        if self.done():
            await self.stop()
            return
        if now >= self.deadline - MARGIN_S:
            resting = [c for c in self.live if c not in self.iocs]
            if resting:
                for cid in resting:
                    await self._cancel(cid)
            elif not self.live:
                await self._ioc(size_to_lot(self.remaining, SPEC.lot_size))
            return
        for cid in list(self.live):
            if now - self.placed_at.get(cid, now) >= self.refresh_s:
                await self._cancel(cid)
        if not self.live and self.book is not None:
            touch = self.book.touch(self.side)
            size = size_to_lot(self.remaining, SPEC.lot_size)
            if touch is not None and size > 0:
                cid = self._cid()
                self.placed_at[cid] = now
                await self._send(OrderRequest(SYMBOL, cid, self.side, touch, size))


class Executor(Agent):
    """The real engine, one per parent, with the target as a one-step schedule."""

    def __init__(self, *args: Any, store: MemoryStore, throttler: SimThrottler, overrides: dict[str, Any],
                 flow_share: float | None = FLOW_SHARE):
        super().__init__(*args)
        window = self.deadline - self.start
        params = replace(EXECUTOR, urgency=Urgency(
            escalate_after_s=window / 2, step_every_s=max(window / 10, 1.0),
            deadline_s=max(window - MARGIN_S, 0.5), cross_band_bps=D(10), flow_share=flow_share), **overrides)
        self.engine = InstrumentEngine(
            spec=SPEC, policy=Schedule(steps=[ScheduleStep(after_s=0, target=self.qty)]), execution=params,
            limits=RiskLimits(max_position=D(1000), max_order_size=D(50), stale_after_s=2.0, price_band_bps=D(100)),
            sample_interval_s=1.0, venue=self.venue, store=store, throttler=throttler, clock=self.venue.clock,
        )

    async def on_book(self, book: Book) -> None:
        await super().on_book(book)
        self.engine.on_book(book)

    def on_trade(self, trade: Trade) -> None:
        self.engine.on_trade(trade)

    async def on_update(self, update: OrderUpdate) -> None:
        await super().on_update(update)
        await self.engine.on_order_update(update)

    async def act(self, now: float) -> None:
        await self.engine.decide()

    async def stop(self) -> None:
        await self.engine.cancel_all("next parent order")


# the run ----------------------------------------------------------------------------------------------
def make_venue(data: Path, queue: str, latency_ms: float, recorder: Any = None) -> ReplayVenue:
    return ReplayVenue({SYMBOL: SPEC}, data, queue_model=QueueModel(queue), entry_latency_s=latency_ms / 1000,
                       cancel_latency_s=latency_ms / 1000, book_depth=50, recorder=recorder)


async def reference_depth(data: Path) -> tuple[Decimal, float]:
    """Median top-of-book size (average of both sides) over the recording, and its duration."""
    v = make_venue(data, "conservative", 0)
    await v.connect([SYMBOL])
    start, sizes = v.clock(), []
    while (events := v.step()) is not None:
        sizes += [(e.bids[0].size + e.asks[0].size) / 2 for e in events if isinstance(e, Book) and e.bids and e.asks]
    return D(statistics.median(sizes)), v.clock() - start


async def run_strategy(name: str, data: Path, targets: list[Target], queue: str, latency_ms: float,
                       refresh_s: float, overrides: dict[str, Any] | None = None,
                       flow_share: float | None = FLOW_SHARE) -> list[ExecutionReport]:
    owner: dict[str, Agent] = {}
    actions: Counter[int] = Counter()
    acting: list[Agent | None] = [None]

    def recorder(kind: str, rec: dict[str, Any]) -> None:
        if kind == "order" and rec["kind"] == "request" and acting[0] is not None:
            owner.setdefault(rec["client_order_id"], acting[0])
            actions[id(acting[0])] += 1

    venue = make_venue(data, queue, latency_ms, recorder)
    await venue.connect([SYMBOL])
    t0 = venue.clock()
    store, throttler = MemoryStore(), SimThrottler(1e9, venue.clock)
    book = await venue.fetch_book(SYMBOL, 50)
    pending = list(targets)
    runs: list[tuple[Target, Agent, ParentOrder, float | None]] = []
    agent: Agent | None = None
    completed: float | None = None
    prints: deque[Trade] = deque()  # the last minute's public prints, for a new agent

    async def route(update: OrderUpdate) -> None:
        a = owner.get(update.client_order_id)
        if a is not None:
            await a.on_update(update)

    async def act(a: Agent, now: float) -> None:
        acting[0] = a
        for _ in range(8):
            await a.act(now)
            follow = venue.take_updates()
            if not follow:
                break
            for u in follow:
                await route(u)
        acting[0] = None

    def close(now: float) -> None:
        nonlocal agent
        if agent is not None:
            target, _, parent, _ = runs[-1]
            runs[-1] = (target, agent, parent, completed)
        agent = None

    while venue.next_time() is not None:
        events = venue.step() or []
        now = venue.clock()
        touched = False
        for e in events:
            if isinstance(e, Book):
                book = e
                touched = True
                if agent is not None:
                    await agent.on_book(e)
            elif isinstance(e, OrderUpdate):
                await route(e)
                touched = touched or owner.get(e.client_order_id) is agent
            elif isinstance(e, Trade):
                prints.append(e)
                if agent is not None:
                    agent.on_trade(e)
        while prints and prints[0].ts < now - 60:
            prints.popleft()
        if pending and now - t0 >= pending[0].start_s and book.mid is not None:
            if agent is not None:
                acting[0] = agent
                await agent.stop()
                acting[0] = None
                close(now)
            target = pending.pop(0)
            cls = {"executor": Executor, "taker": Taker, "quoter": Quoter, "twap": Twap}[name]
            extra: dict[str, Any] = {}
            if name == "executor":
                extra = {"store": store, "throttler": throttler, "overrides": overrides or {}, "flow_share": flow_share}
            if name == "quoter":
                extra = {"refresh_s": refresh_s}
            agent = cls(venue, target.qty, now, now + target.window_s, **extra)
            for trade in prints:
                agent.on_trade(trade)
            await agent.on_book(book)
            parent = ParentOrder(f"{name}-{len(runs) + 1}", SYMBOL, now, book.mid, ZERO, target.qty,
                                 now + target.window_s)
            runs.append((target, agent, parent, None))
            completed = None
            touched = True
        if agent is not None and touched:
            await act(agent, now)
            if completed is None and agent.done():
                completed = now
    close(venue.clock())

    reports = []
    end_mid = book.mid
    for i, (target, a, parent, done_ts) in enumerate(runs):
        end_ts = runs[i + 1][2].start_ts if i + 1 < len(runs) else venue.clock()
        mid = runs[i + 1][2].arrival_mid if i + 1 < len(runs) else end_mid
        reports.append(execution_report(parent, a.fills, SPEC, order_actions=actions[id(a)], end_ts=end_ts,
                                        end_mid=mid, completed_ts=done_ts))
    return reports


def parse_overrides(items: list[str]) -> dict[str, Any]:
    kinds = {f.name: f.type for f in fields(ExecutionParams)}
    out: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        kind = str(kinds.get(key, ""))
        if not kind or key == "urgency":
            raise SystemExit(f"--executor: no ExecutionParams field {key!r} (urgency is set per parent)")
        if value == "None":
            out[key] = None
        elif "Decimal" in kind:
            out[key] = D(value)
        elif "int" in kind:
            out[key] = int(value)
        else:
            out[key] = float(value)
    return out


def table(results: dict[str, list[ExecutionReport]]) -> str:
    rows = ["| strategy | avg cost incl. fees (bps) | p90 cost (bps) | maker share | completed by deadline "
            "| order actions / parent | avg time to complete (s) |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name, reports in results.items():
        s = summarize(reports)
        rows.append(f"| {name} | {s['cost_bps_mean']:.2f} | {s['cost_bps_p90']:.2f} | {s['maker_share']:.1%} | "
                    f"{s['deadlines_met']}/{s['deadlines']} | {s['order_actions_per_parent']:.1f} | "
                    f"{s['time_to_complete_s_mean']:.1f} |")
    return "\n".join(rows)


async def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="directory of the Tardis CSV recording")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    p.add_argument("--queue", choices=["power", "conservative", "log"], default="power")
    p.add_argument("--refresh-s", type=float, default=2.0, help="the fixed quoter's cancel/replace period")
    p.add_argument("--latency-ms", type=float, default=50.0, help="order entry and cancel latency")
    p.add_argument("--strategies", nargs="+", default=["executor", "taker", "quoter", "twap"])
    p.add_argument("--executor", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override the executor's ExecutionParams, e.g. layers=2 depth_fraction=0.5")
    p.add_argument("--flow-share", type=lambda v: None if v == "off" else float(v), default=FLOW_SHARE,
                   help="the executor's queue-aware urgency share (Urgency.flow_share), or off")
    p.add_argument("--json", type=Path, help="write every parent's report here")
    args = p.parse_args(argv)
    overrides = parse_overrides(args.executor)
    configure("json", "error", io.StringIO())  # the engine's logs are not the point here

    wall = time.monotonic()
    depth, duration = await reference_depth(args.data)
    targets = {seed: draw_schedule(seed, duration, depth) for seed in args.seeds}
    n = sum(len(t) for t in targets.values())
    if n == 0:
        print(f"the recording ({duration:.0f} s) is too short for any parent order with seeds {args.seeds}")
        return 2
    sizes = sorted(abs(t.qty) for ts in targets.values() for t in ts)
    windows = sorted(t.window_s for ts in targets.values() for t in ts)
    print(f"recording {args.data.name}: {duration:.0f} s; median top-of-book size {depth} BTC")
    print(f"{n} parent orders over seeds {args.seeds}: sizes {sizes[0]}–{sizes[-1]} BTC, "
          f"deadlines {windows[0]:.0f}–{windows[-1]:.0f} s; queue model {args.queue}, latency {args.latency_ms:g} ms, "
          f"fees 2/5 bp maker/taker; quoter refresh {args.refresh_s:g} s")
    chosen = replace(EXECUTOR, **overrides)
    print("executor: " + ", ".join(f"{f.name}={getattr(chosen, f.name)}" for f in fields(chosen) if f.name != "urgency")
          + f"; urgency: escalate after half the window, IOC {MARGIN_S:g} s before the deadline, "
            f"queue-aware flow_share={args.flow_share}")
    results: dict[str, list[ExecutionReport]] = {}
    for name in args.strategies:
        results[name] = []
        for seed in args.seeds:
            results[name] += await run_strategy(name, args.data, targets[seed], args.queue, args.latency_ms,
                                                args.refresh_s, overrides, args.flow_share)
    print()
    print(table(results))
    print(f"\n({time.monotonic() - wall:.0f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({k: [r.as_dict() for r in v] for k, v in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
