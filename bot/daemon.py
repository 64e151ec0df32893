"""The daemon: wires config, Redis, the venue and one engine per instrument, and runs them
until told to stop (SIGINT/SIGTERM), then cancels every working order and saves state."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import time
from typing import Awaitable, Callable


from bot.config import Config, SimulatedVenueConfig, load_config
from bot.core.types import Book, FactorsUpdate, OrderUpdate, Trade
from bot.engine import InstrumentEngine
from bot.errors import ConfigError, ExitCode, VenueUnavailable
from bot.log import get_logger
from bot.metrics import Metrics
from bot.reconcile import catch_up_fills, reconcile
from bot.execution_tracking import ExecutionTracker
from bot.throttle import OrderBudget
from bot.wiring import build_engines, build_portfolio
from bot.state.base import KillSwitch
from bot.state.store import Fenced, RedisStore
from bot.venues.base import (
    AccountStreamRecovered, InProcessExchange, OptionGreeksUpdate, PositionDeltaUpdate, Venue, VenueError,
)
from bot.venues.ccxt.config import CcxtVenueConfig
from bot.venues.ccxt.venue import CcxtVenue
from bot.venues.simulated.venue import SimInstrument, SimulatedVenue

RETRY_S = 1.0
STOP_TIMEOUT_S = 5.0
"""How long stopping waits for the daemon's tasks to end before shutting down without them."""


def build_venue(config: Config, store: RedisStore, clock: Callable[[], float]) -> Venue:
    v = config.venue
    if isinstance(v, CcxtVenueConfig):
        return CcxtVenue.from_config(v, config.credentials, config.mode, store=store, clock=clock)
    if not isinstance(v, SimulatedVenueConfig):
        raise ConfigError(f"venue.type: {v.type!r} runs with `scalebot replay --config FILE --data DIR --out DIR`")
    instruments = [SimInstrument(m.spec(s, clock()), m.market()) for s, m in v.markets.items()]
    return SimulatedVenue(instruments, seed=v.seed, store=store, speed=v.speed, clock=clock, activate_on_connect=False)


class Daemon:
    def __init__(self, config: Config, *, clock: Callable[[], float] = time.time, metrics: Metrics | None = None):
        self.config = config
        self._metrics = metrics
        self._clock = clock
        self._log = get_logger()
        self.store = RedisStore(config.redis_url, config.redis.prefix, config.redis.intent_timeout_ms / 1000)
        self.venue: Venue = build_venue(config, self.store, clock)
        self.engines: dict[str, InstrumentEngine] = {}
        self._stopping = False
        self._jobs: set[asyncio.Future] = set()
        self.instance = config.engine.instance_id or f"{socket.gethostname()}-{os.getpid()}"

    async def run(self, stop: asyncio.Event) -> ExitCode:
        """Run until ``stop`` is set; returns the exit code."""
        await self.store.ping()
        symbols = [i.symbol for i in self.config.instruments]
        throttler = OrderBudget(rate_limit=self.config.engine.order_rate_per_s, period=1.0)
        self.portfolio = build_portfolio(self.config, self._clock())
        try:
            await self.venue.connect(symbols)
        except VenueError as exc:
            raise VenueUnavailable(f"cannot connect to venue {self.venue.name}: {exc}") from None
        try:
            specs = {symbol: await self.venue.instrument(symbol) for symbol in symbols}
            self.tracker = ExecutionTracker(specs)
            self.engines = build_engines(self.config, specs, venue=self.venue, store=self.store, throttler=throttler,
                                         clock=self._clock, portfolio=self.portfolio, metrics=self._metrics,
                                         tracker=self.tracker)
            await self.store.register_instruments(symbols)
            gc.collect()
            gc.freeze()  # what startup made (modules, markets, engines) is never scanned again: shorter GC pauses
            self._log.info("daemon.started", mode=self.config.mode, venue=self.venue.name, instruments=symbols,
                           prefix=self.config.redis.prefix, instance=self.instance)
            return await self._supervise(stop)
        finally:
            await self._shutdown()

    async def _supervise(self, stop: asyncio.Event) -> ExitCode:
        jobs: list[Awaitable[None]] = [self._dispatch(), self._watch_kills_pubsub(), self._poll_kills(), self._heartbeat(),
                                       self._summaries()]
        jobs += [self._own(e) for e in self.engines.values()]
        tasks = [asyncio.create_task(j) for j in jobs]
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        self._stopping = True
        for engine in self.engines.values():
            engine.stop()  # nothing new leaves, even from a task whose cancellation gets lost
        for task in [stopper, *tasks, *self._jobs]:
            task.cancel()
        _, stuck = await asyncio.wait([stopper, *tasks], timeout=STOP_TIMEOUT_S)
        for task in stuck:  # a library that swallowed the cancellation: shut down regardless
            self._log.error("daemon.task_stuck", task=task.get_coro().__qualname__)
        failed = [t for t in done if t is not stopper and not t.cancelled() and t.exception()]
        for task in failed:
            exc = task.exception()
            self._log.error("daemon.crashed", error=f"{type(exc).__name__}: {exc}")
        return ExitCode.INTERNAL if failed else ExitCode.OK

    async def _own(self, engine: InstrumentEngine) -> None:
        """Work ``engine``'s instrument only while this instance holds its lease: acquire it (or
        wait for it), reconcile, trade, renew every third of the lease; on losing it, stop at
        once (its new owner reconciles; our writes are fenced off anyway)."""
        ttl_ms = self.config.engine.lease_ms
        renew_s = ttl_ms / 3000
        symbol = engine.symbol
        waiting_logged = False
        while True:
            token = await self._try(self.store.acquire_lease(symbol, self.instance, ttl_ms))
            if not token:
                if not waiting_logged:
                    self._log.info("lease.waiting", instrument=symbol, owner=await self._try(self.store.lease_owner(symbol)))
                    waiting_logged = True
                await asyncio.sleep(renew_s)
                continue
            self._log.info("lease.acquired", instrument=symbol, fencing_token=token, instance=self.instance)
            if isinstance(self.venue, InProcessExchange):
                await self.venue.activate(symbol)
            try:
                await self._reconcile(engine, "lease acquired")
            except Fenced:  # lost already (this process was paused, say): its new owner reconciles
                self._log.error("lease.lost", instrument=symbol, fencing_token=token, reason="fenced write in reconcile")
                engine.attached = False
                if isinstance(self.venue, InProcessExchange):
                    await self.venue.deactivate(symbol)
                waiting_logged = False
                continue
            engine.on_book(await self.venue.fetch_book(symbol))
            engine.owned = True
            runner = asyncio.create_task(engine.run())
            try:
                last_renewed = self._clock()
                while not runner.done():
                    await asyncio.sleep(renew_s)
                    renewed = await self._try(self.store.renew_lease(symbol, self.instance, ttl_ms))
                    if renewed:
                        last_renewed = self._clock()
                    elif renewed is False or self._clock() - last_renewed > ttl_ms / 1000:
                        self._log.error("lease.lost", instrument=symbol, fencing_token=token)
                        break
                if runner.done() and isinstance(runner.exception(), Fenced):
                    self._log.error("lease.lost", instrument=symbol, fencing_token=token, reason="fenced write")
                elif runner.done():
                    runner.result()  # an engine crash ends the daemon
            finally:
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)
                if not self._stopping:  # lost the lease: its new owner runs it from here
                    engine.owned = engine.attached = False
                    if isinstance(self.venue, InProcessExchange):
                        await self.venue.deactivate(symbol)
            waiting_logged = False

    async def _reconcile(self, engine: InstrumentEngine, why: str) -> None:
        """Reconcile ``engine`` with the venue while its decisions wait. If the two cannot be
        made to agree, the instrument's own kill switch is engaged (a clear log line, and it stays
        halted until `scalebot resume`); the other instruments run on."""
        engine.reconciling = True
        try:
            await reconcile(engine, self.venue, self.store)
            engine.set_kill(await self.store.kill_switch(engine.scopes))
        except Fenced:
            raise
        except Exception as exc:
            reason = f"reconcile failed ({why}): {type(exc).__name__}: {exc}"
            self._log.error("reconcile.failed", instrument=engine.symbol, reason=reason)
            switch = KillSwitch(engine.symbol, reason, "scalebot:reconcile", self._clock())
            with contextlib.suppress(Exception):
                await self.store.engage_kill(switch.scope, reason, switch.by)
            engine.set_kill(switch)
        finally:
            engine.reconciling = False

    def _background(self, job: Awaitable[None]) -> None:
        task = asyncio.ensure_future(job)
        self._jobs.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Future) -> None:
        self._jobs.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None:  # a lost lease, say: the owner loop notices
            self._log.error("daemon.background_failed", error=f"{type(exc).__name__}: {exc}")

    async def _try(self, call: Awaitable[object]) -> object | None:
        """``call``'s result, or ``None`` (logged) when Redis does not answer."""
        try:
            return await call
        except Exception as exc:
            self._log.error("redis.unavailable", during="lease", error=type(exc).__name__)
            return None

    async def _shutdown(self) -> None:
        """Cancel every working order (ours one by one, then anything left), save, disconnect."""
        for symbol, engine in self.engines.items():
            if not engine.owned:
                continue  # not ours (now): its owner looks after it
            with contextlib.suppress(Exception):
                await engine.cancel_all("shutdown")
            try:
                for update in await self.venue.cancel_all(symbol):
                    await engine.on_order_update(update)
                await catch_up_fills(engine, self.venue)  # fills still in flight when we stopped
            except Exception as exc:
                self._log.error("daemon.cancel_all_failed", instrument=symbol, error=repr(exc))
            with contextlib.suppress(Exception):
                await self.store.release_lease(symbol, self.instance)
        with contextlib.suppress(Exception):
            await self.store.heartbeat(self._owned(), self._clock(), self.config.mode)
        await self.venue.close()
        self._log.info("daemon.stopped", positions={s: str(e.position.size) for s, e in self.engines.items()},
                       working_orders=sum(len(e.live_orders()) for e in self.engines.values()))
        await self.store.close()

    async def _dispatch(self) -> None:
        async for event in self.venue.events():
            if isinstance(event, OptionGreeksUpdate):
                self.portfolio.on_venue_greeks(event)
                continue
            if isinstance(event, PositionDeltaUpdate):
                self.portfolio.on_venue_position_delta(event)
                continue
            if isinstance(event, AccountStreamRecovered):
                for engine in self.engines.values():
                    if engine.owned:
                        self._background(self._reconcile(engine, "account stream recovered"))
                continue
            engine = self.engines.get(event.symbol)
            if engine is None or not (engine.owned or (engine.attached and isinstance(event, OrderUpdate))):
                continue  # not ours; while reconciling, only our orders' updates and fills apply
            if isinstance(event, Book):
                engine.on_book(event)
            elif isinstance(event, Trade):
                engine.on_trade(event)
            elif isinstance(event, OrderUpdate):
                await engine.on_order_update(event)
            elif isinstance(event, FactorsUpdate):
                engine.on_factors(event)

    async def _refresh_kills(self) -> None:
        """Every owned engine's kill switches, read in one pipeline (not one blocking round trip each)."""
        owned = [e for e in self.engines.values() if e.owned]
        switches = await asyncio.gather(*(self.store.kill_switch(e.scopes, at_once=False) for e in owned))
        for engine, switch in zip(owned, switches):
            engine.set_kill(switch)

    async def _watch_kills_pubsub(self) -> None:
        while not self._stopping:
            try:
                async for _ in self.store.kill_messages():
                    await self._refresh_kills()
            except Exception as exc:
                self._log.error("redis.unavailable", during="kill_subscribe", error=type(exc).__name__)
                await asyncio.sleep(RETRY_S)

    async def _poll_kills(self) -> None:
        """Poll the kill switches (a backup to pub/sub) and watch Redis itself: after
        ``redis_down_kill_after_s`` without an answer, engage a global switch locally; when Redis
        answers again, persist that switch, write what could not be written, then poll."""
        guards = self.config.engine.guards
        down_since: float | None = None
        local: KillSwitch | None = None
        while True:
            try:
                await self.store.probe()  # recovered only once Redis answers (with no engine owned too)
                if local is not None:
                    await self.store.engage_kill(local.scope, local.reason, local.by, local.action)
                    local = None
                if down_since is not None:
                    for engine in self.engines.values():
                        if engine.kill is not None:  # Redis may have come back empty: keep every switch
                            k = engine.kill
                            await self.store.engage_kill(k.scope, k.reason, k.by, k.action)
                        if engine.owned:
                            engine.request_resync()  # on its own task, before its next decision
                    self._log.warning("redis.recovered", down_s=round(self._clock() - down_since, 3))
                    down_since = None
                await self._refresh_kills()
                for engine in self.engines.values():
                    if engine.owned and engine.journal_behind and not engine.resync_due:
                        engine.request_resync()  # a write failed meanwhile: write the state again
            except Exception as exc:
                now = self._clock()
                down_since = down_since if down_since is not None else now
                self._log.error("redis.unavailable", during="kill_poll", error=type(exc).__name__,
                                down_s=round(now - down_since, 3))
                limit = guards.redis_down_kill_after_s
                if local is None and limit is not None and now - down_since > limit:
                    local = KillSwitch("global", f"Redis unreachable for more than {limit}s", "scalebot:guard", now,
                                       guards.kill_action)
                    for engine in self.engines.values():
                        engine.set_kill(local)
            await asyncio.sleep(self.config.engine.kill_poll_ms / 1000)

    def reload(self, path: str) -> None:
        """SIGHUP: validate the file again and apply per-instrument settings (policy, modifiers,
        execution, risk, guards); an invalid file changes nothing. Redis, venue and the set of
        instruments need a restart."""
        try:
            new = load_config(path)
        except ConfigError as exc:
            self._log.error("config.reload_failed", path=path, errors=str(exc).splitlines()[1:] or [str(exc)])
            return
        old_symbols = {i.symbol for i in self.config.instruments}
        new_symbols = {i.symbol for i in new.instruments}
        for inst in new.instruments:
            engine = self.engines.get(inst.symbol)
            if engine is not None:
                engine.reconfigure(policy=inst.policy, modifiers=inst.modifiers, execution=inst.execution.params(),
                                   limits=inst.risk.limits(), guards=inst.risk.guards(new.engine.guards))
        needs_restart = sorted(k for k in ("redis", "venue", "mode", "credentials", "portfolio")
                               if getattr(new, k) != getattr(self.config, k))
        if new_symbols != old_symbols:
            needs_restart.append("instruments (added or removed)")
        self._log.info("config.reloaded", path=path, instruments=sorted(new_symbols & old_symbols),
                       ignored_until_restart=needs_restart)

    async def _summaries(self) -> None:
        while True:
            await asyncio.sleep(self.config.engine.summary_interval_s)
            for engine in self.engines.values():
                if engine.owned:
                    self._log.info("summary", **engine.summary())

    def _owned(self) -> list[str]:
        return [symbol for symbol, engine in self.engines.items() if engine.owned]

    async def _heartbeat(self) -> None:
        while True:
            try:
                await self.store.heartbeat(self._owned(), self._clock(), self.config.mode)
            except Exception as exc:
                self._log.error("redis.unavailable", during="heartbeat", error=type(exc).__name__)
            await asyncio.sleep(self.config.engine.heartbeat_ms / 1000)
