"""Replay a config on recorded market data: ``scalebot replay`` and ``scalebot report``.

:func:`run_replay` builds one :class:`~bot.engine.InstrumentEngine` per instrument on a
:class:`~bot.venues.replay.venue.ReplayVenue` with an in-memory store, with the venue's simulated
clock as the engines' clock, and replays the whole recording deterministically: after each step
of the venue (a batch of market data with one ``local_timestamp``, or the arrival of an in-flight
order action) the events go to the engines, and every engine whose book or orders changed
decides once (the daemon's conflation, one decision per batch). What an action produces beyond
its direct answer (an IOC's fills) is handed back at once and the engine decides again.

Outputs in ``out_dir``: ``orders.jsonl`` (every order action and venue answer, with the estimated
queue ahead), ``fills.jsonl`` (every fill with the public print that filled it) and
``summary.json`` (data, counts, execution metrics per parent order and their summary). Each
parent order (target change) is logged as ``execution.completed`` when it ends.

The engine's order-rate limiter runs on wall time in the daemon; in replay it is replaced by a
counter on the simulated clock that never delays (a replay cannot pause the recording), and the
summary reports how often the configured rate was exceeded.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Callable


from bot.config import Config
from bot.core.execution_metrics import summarize
from bot.core.types import Book, OrderUpdate, Trade
from bot.engine import InstrumentEngine
from bot.errors import ConfigError
from bot.log import get_logger
from bot.execution_tracking import ExecutionTracker
from bot.wiring import build_engines, build_portfolio
from bot.state.memory import MemoryStore
from bot.venues.replay.config import ReplayVenueConfig
from bot.venues.replay.venue import ReplayVenue

MAX_ROUNDS = 8
"""Decisions in a row for one step while order actions keep producing immediate updates."""


# rate accounting ---------------------------------------------------------------------------------------
class SimThrottler:
    """Stands in for the engine's rate limiter: counts order actions per second of simulated
    time, never waits."""

    def __init__(self, rate_per_s: float, clock: Callable[[], float]):
        self.rate_per_s = rate_per_s
        self._clock = clock
        self._recent: deque[float] = deque()
        self.actions = 0
        self.over_limit = 0
        self.max_in_1s = 0

    async def __aenter__(self) -> None:
        now = self._clock()
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        self._recent.append(now)
        self.actions += 1
        self.max_in_1s = max(self.max_in_1s, len(self._recent))
        if len(self._recent) > self.rate_per_s:
            self.over_limit += 1

    async def __aexit__(self, *exc: Any) -> None:
        return None

    def available(self) -> int:
        """Actions left in the last second of simulated time."""
        now = self._clock()
        return max(0, int(self.rate_per_s) - sum(1 for t in self._recent if now - t < 1.0))


# the run ------------------------------------------------------------------------------------------------
class _JsonLines:
    def __init__(self, out_dir: Path):
        self.files: dict[str, IO[str]] = {
            "order": open(out_dir / "orders.jsonl", "w"),
            "fill": open(out_dir / "fills.jsonl", "w"),
        }
        self.counts = {"order": 0, "fill": 0}

    def __call__(self, kind: str, record: dict[str, Any]) -> None:
        self.files[kind].write(json.dumps(record, default=_json_default, separators=(",", ":")) + "\n")
        self.counts[kind] += 1

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class ReplaySession:
    """Engines on a connected :class:`ReplayVenue`, stepped to the end of its data."""

    def __init__(self, venue: ReplayVenue, engines: dict[str, InstrumentEngine], tracker: ExecutionTracker):
        self.venue = venue
        self.engines = engines
        self.tracker = tracker
        self.decisions = 0
        self.steps = 0
        self._actions: dict[str, int] = {}

    def note_action(self, symbol: str) -> None:
        """An order action was sent; it counts for the parent order current after the decision
        that sent it (a decision sets its target before it acts)."""
        self._actions[symbol] = self._actions.get(symbol, 0) + 1

    async def run(self, realtime: bool = False) -> None:
        wall0, sim0 = time.monotonic(), self.venue.clock()
        for symbol in sorted(self.engines):
            await self._decide(symbol)
        while (when := self.venue.next_time()) is not None:
            if realtime:
                await asyncio.sleep(max(0.0, (when - sim0) - (time.monotonic() - wall0)))
            events = self.venue.step() or []
            self.steps += 1
            touched: set[str] = set()
            for event in events:
                engine = self.engines.get(event.symbol)
                if engine is None:
                    continue
                if isinstance(event, Book):
                    engine.on_book(event)
                    touched.add(event.symbol)
                elif isinstance(event, Trade):
                    engine.on_trade(event)
                elif isinstance(event, OrderUpdate):
                    await self._apply(engine, event)
                    touched.add(event.symbol)
            for symbol in sorted(touched):
                await self._decide(symbol)

    async def _apply(self, engine: InstrumentEngine, update: OrderUpdate) -> None:
        await engine.on_order_update(update)
        if update.fill is not None:
            self.tracker.on_fill(update.fill)
        self.tracker.check(engine.symbol, self.venue.clock(), engine.position.size, _mid(engine))

    async def _decide(self, symbol: str) -> None:
        engine = self.engines[symbol]
        for _ in range(MAX_ROUNDS):
            await engine.decide()
            self.decisions += 1
            now = self.venue.clock()
            self.tracker.on_target(symbol, now, engine.target, engine.position.size, _mid(engine),
                                   engine.target_deadline_ts)
            for _ in range(self._actions.pop(symbol, 0)):
                self.tracker.on_action(symbol)
            self.tracker.check(symbol, now, engine.position.size, _mid(engine))
            follow_ups = self.venue.take_updates()
            for update in follow_ups:  # always handed over, even after the last round
                await self._apply(self.engines[update.symbol], update)
            if not follow_ups:
                return


def _mid(engine: InstrumentEngine) -> Decimal | None:
    return engine.book.mid if engine.book is not None else None


async def run_replay(config: Config, data_dir: Path, out_dir: Path, realtime: bool = False) -> dict:
    """Run ``config`` (its venue a :class:`ReplayVenueConfig`) on the Tardis recording in
    ``data_dir``; write ``orders.jsonl``, ``fills.jsonl`` and ``summary.json`` to ``out_dir``
    (created if needed) and return the summary. ``realtime`` paces the replay to wall time.

    Raises :class:`~bot.errors.ConfigError` if the venue is not a replay venue and
    :class:`~bot.venues.base.VenueError` if the data cannot be replayed for the instruments."""
    venue_config = config.venue
    if not isinstance(venue_config, ReplayVenueConfig):
        raise ConfigError(f"venue.type: replay needs a replay venue (got {getattr(venue_config, 'type', '?')!r})")
    missing = [i.symbol for i in config.instruments if i.symbol not in venue_config.markets]
    if missing:
        raise ConfigError(f"venue.markets: no market for instrument {', '.join(missing)}")
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = get_logger()
    wall0 = time.monotonic()
    writer = _JsonLines(out_dir)
    tracker = ExecutionTracker(venue_config.specs())
    tallies: dict[str, dict[str, Any]] = {}
    try:
        venue = ReplayVenue.from_config(venue_config, data_dir)
        symbols = [i.symbol for i in config.instruments]
        await venue.connect(symbols)

        throttler = SimThrottler(config.engine.order_rate_per_s, venue.clock)
        store = MemoryStore()
        portfolio = build_portfolio(config, venue.clock())
        engines = build_engines(config, venue.specs, venue=venue, store=store, throttler=throttler, clock=venue.clock,
                                portfolio=portfolio)
        for symbol, engine in engines.items():
            engine.on_book(await venue.fetch_book(symbol, venue.book_depth))
        session = ReplaySession(venue, engines, tracker)

        def record(kind: str, rec: dict[str, Any]) -> None:
            writer(kind, rec)
            if kind == "order" and rec.get("kind") == "request":
                session.note_action(rec["symbol"])
            elif kind == "fill":
                t = tallies.setdefault(rec["symbol"], {"fills": 0, "maker_fills": 0, "volume": Decimal(0),
                                                       "fees": Decimal(0)})
                t["fills"] += 1
                t["maker_fills"] += rec["liquidity"] == "maker"
                t["volume"] += rec["size"]
                t["fees"] += rec["fee"]

        venue.recorder = record
        log.info("replay.started", data=str(data_dir), instruments=symbols, start_ts=venue.clock())
        await session.run(realtime)
        end_ts = venue.clock()
        tracker.close(end_ts, {s: _mid(e) for s, e in engines.items()})
    finally:
        writer.close()
    summary = _summary(config, venue, engines, tracker, session, throttler, writer, tallies, data_dir,
                       time.monotonic() - wall0, realtime)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
    log.info("replay.finished", out=str(out_dir), parents=len(tracker.reports), wall_s=summary["run"]["wall_s"])
    return summary


def _summary(config: Config, venue: ReplayVenue, engines: dict[str, InstrumentEngine], tracker: ExecutionTracker,
             session: ReplaySession, throttler: SimThrottler, writer: _JsonLines,
             tallies: dict[str, dict[str, Any]], data_dir: Path, wall_s: float, realtime: bool) -> dict[str, Any]:
    v: ReplayVenueConfig = config.venue  # type: ignore[assignment]
    instruments = {}
    policies = {i.symbol: i.policy.type for i in config.instruments}  # type: ignore[attr-defined]
    for symbol, engine in engines.items():
        tally = tallies.get(symbol, {"fills": 0, "maker_fills": 0, "volume": Decimal(0), "fees": Decimal(0)})
        instruments[symbol] = {
            "policy": policies[symbol],
            "target": engine.target,
            "position": engine.position.size,
            "working_orders": len(engine.live_orders()),
            **tally,
            "fee_currency": engine.spec.settle,
        }
    return {
        "data": {
            "dir": str(data_dir), "start_ts": venue.started_ts, "end_ts": venue.clock(),
            "duration_s": venue.clock() - (venue.started_ts or venue.clock()),
            **venue.stats, "out_of_order_rows": venue.order_stats.out_of_order,
        },
        "venue": {
            "queue_model": v.queue.model, "queue_power": v.queue.power,
            "order_entry_latency_ms": v.order_entry_latency_ms, "cancel_latency_ms": v.cancel_latency_ms,
            "book_depth": v.book_depth,
            "markets": {s: {k: str(x) if isinstance(x, Decimal) else x for k, x in m.model_dump().items()}
                        for s, m in v.markets.items()},
        },
        "run": {"wall_s": round(wall_s, 3), "realtime": realtime, "steps": session.steps,
                "decisions": session.decisions, "order_records": writer.counts["order"],
                "fill_records": writer.counts["fill"]},
        "rate_limit": {"order_rate_per_s": throttler.rate_per_s, "actions": throttler.actions,
                       "actions_over_limit": throttler.over_limit, "max_actions_in_1s": throttler.max_in_1s},
        "instruments": instruments,
        "execution": {**summarize(tracker.reports), "unattributed_fills": tracker.unattributed_fills},
        "parents": [r.as_dict() for r in tracker.reports],
    }


# the report ---------------------------------------------------------------------------------------------
def _f(value: Any, fmt: str = "{:.2f}", none: str = "-") -> str:
    return none if value is None else fmt.format(value)


def report(out_dir: Path) -> str:
    """A plain-text summary of the execution metrics of the run written to ``out_dir``.

    Raises ``FileNotFoundError`` if ``out_dir`` has no ``summary.json``."""
    summary = json.loads((Path(out_dir) / "summary.json").read_text())
    data, ex, run = summary["data"], summary["execution"], summary["run"]
    lines = [
        f"replay of {data['dir']}: {data['duration_s']:.1f} s of data, {data['batches']} batches, "
        f"{data['trades']} trades; {run['wall_s']:.1f} s wall, {run['decisions']} decisions",
        "",
        "instrument  position   target     fills  maker  volume       fees",
    ]
    for symbol, i in summary["instruments"].items():
        lines.append(f"{symbol:<11} {i['position']:<10} {str(i['target']):<10} {i['fills']:<6} {i['maker_fills']:<6} "
                     f"{i['volume']:<12} {i['fees']} {i['fee_currency']}")
    lines += [
        "",
        "parent orders (costs in bps of arrival notional, positive = cost)",
        "id            side  qty        filled     arrival mid   avg price     shortfall  fees   total  "
        "maker  actions  done in",
    ]
    for p in summary["parents"]:
        if p["time_to_complete_s"] is not None:
            done = f"{p['time_to_complete_s']:.1f}s" + (" (late)" if p["deadline_met"] is False else "")
        elif p["deadline_met"] is False:
            done = "not done by deadline"
        else:
            done = f"superseded after {p['end_ts'] - p['start_ts']:.1f}s"
        lines.append(
            f"{p['parent_id']:<13} {p['side']:<5} {p['quantity']:<10} {p['filled']:<10} {p['arrival_mid']:<13} "
            f"{(p['avg_price'] or '-')[:13]:<13} {_f(p['shortfall_bps']):>9} {_f(p['fee_bps']):>6} "
            f"{_f(p['total_cost_bps']):>6} {_f(p['maker_share'], '{:.0%}'):>6} {p['order_actions']:>7}  {done}")
    if not summary["parents"]:
        lines.append("(no target change)")
    lines += [
        "",
        f"parents {ex['parents']}, completed {ex['completed']}"
        + (f", deadlines met {ex['deadlines_met']}/{ex['deadlines']}" if ex["deadlines"] else ""),
        f"cost bps: mean {_f(ex['cost_bps_mean'])}, p50 {_f(ex['cost_bps_p50'])}, p90 {_f(ex['cost_bps_p90'])}; "
        f"maker share {_f(ex['maker_share'], '{:.1%}')}; order actions per parent {_f(ex['order_actions_per_parent'], '{:.1f}')}; "
        f"time to complete mean {_f(ex['time_to_complete_s_mean'], '{:.1f}s')}",
    ]
    rl = summary["rate_limit"]
    if rl["actions_over_limit"]:
        lines.append(f"order rate: {rl['actions_over_limit']} of {rl['actions']} actions beyond "
                     f"{rl['order_rate_per_s']}/s (max {rl['max_actions_in_1s']} in 1 s; replay does not delay them)")
    return "\n".join(lines)
