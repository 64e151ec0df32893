"""The engine: one :class:`InstrumentEngine` per instrument turns market and account updates into
targets and order actions.

Updates are applied as they come (every order update and fill, in order); decisions are
conflated: many updates between two decisions lead to one decision on the latest state. Each
order action is journalled in Redis before it is sent, and each new order or reprice first
re-reads the kill switch from Redis: if Redis does not answer, nothing new goes out (cancels
always do).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any, Awaitable, Callable, Sequence, TypeVar


from bot.core import pnl
from bot.core.market_data import sanitize
from bot.core.mids import MidSeries
from bot.core.modifiers import ModifierConfig, apply_modifiers
from bot.core.orders import apply_update
from bot.core.recent import RecentIds
from bot.core.guards import GuardLimits, GuardState, after_accept, after_error, after_reject, tripped
from bot.core.planner import (
    Action, Cancel, ExecutionParams, Place, Reprice, TradeFlow, Urgency, plan, within_budget, without_own_orders,
    working_quantity,
)
from bot.core.policies import TargetDecision, compute_target
from bot.core.policies.base import VIEWS, PolicyParams
from bot.core.risk import AccountLimits, OrderCheck, RiskLimits, check_account, check_order
from bot.core.policies._vol import ewma_vol
from bot.core.types import (
    ZERO, Book, FactorsUpdate, Fill, GreeksView, InstrumentSpec, InstrumentState, MarketFactors, Order, OrderStatus, OrderUpdate, PnlView,
    Trade,
)
from bot.execution_tracking import ExecutionTracker
from bot.log import get_logger
from bot.metrics import Metrics
from bot.portfolio import Portfolio
from bot.throttle import ActionBudget
from bot.state.base import Fenced, KillSwitch, PositionRecord, SavedTarget, Store, kill_scopes
from bot.venues.base import OrderNotFound, OrderRejected, OrderRequest, PostOnlyRejected, Venue, VenueError

T = TypeVar("T")

MAX_MID_SAMPLES = 2048
MAX_SEEN_FILLS = 100_000
"""Trade ids remembered for deduplication (bounded memory over months of fills); a duplicate
older than that many later fills is far beyond any venue's redelivery."""
BEHIND_AFTER_S = 0.005
"""A decision that starts later than this after the update that woke it is behind (see ``_behind``)."""
BAD_DATA_LOG_EVERY = 1000
"""A run of rejected books is logged on the first and then every this many."""
MAX_BACK_OFF_TICKS = 5
BACK_OFF_BASE_S = 0.1
"""After the n-th post-only rejection in a row, quote n ticks back and place nothing new for
BACK_OFF_BASE_S × 2^(n-1) seconds."""


async def _to_the_end(call: Awaitable[T]) -> tuple[T | None, BaseException | None, bool]:
    """Await a journal write to its answer even if this task is cancelled meanwhile (once out,
    the write decides what is true, so the caller acts on its answer, then raises the
    cancellation): the result or the error, and whether the task was cancelled."""
    task = asyncio.ensure_future(call)
    cancelled = False
    while True:
        try:
            return await asyncio.shield(task), None, cancelled
        except asyncio.CancelledError as exc:
            if task.cancelled():
                return None, exc, True
            cancelled = True
        except Exception as exc:
            return None, exc, cancelled


class InstrumentEngine:
    """State, decisions and order actions for one instrument."""

    def __init__(
        self,
        *,
        spec: InstrumentSpec,
        policy: PolicyParams,
        execution: ExecutionParams,
        limits: RiskLimits,
        sample_interval_s: float,
        venue: Venue,
        store: Store,
        throttler: ActionBudget,
        clock: Callable[[], float],
        monotonic: Callable[[], float] = time.perf_counter,
        portfolio: Portfolio | None = None,
        account_limits: AccountLimits = AccountLimits(),
        guards: GuardLimits = GuardLimits(),
        account: str = "default",
        kill_action: str = "cancel",
        flatten_urgency: Urgency = Urgency(escalate_after_s=5.0, step_every_s=2.0, deadline_s=60.0),
        modifiers: Sequence[ModifierConfig] = (),
        metrics: Metrics | None = None,
        tracker: ExecutionTracker | None = None,
    ):
        self.spec = spec
        self.symbol = spec.symbol
        self._policy = policy
        self._modifiers = tuple(modifiers)
        self._policy_target: Decimal | None = None
        """The policy's own last target, before modifiers: what the policy sees as current."""
        self._execution = execution
        self._limits = limits
        self._account_limits = account_limits
        self._guards = guards
        self._guard_state = GuardState()
        self._kill_action = kill_action
        self._flatten_urgency = flatten_urgency
        self.scopes = kill_scopes(spec.symbol, account)
        self._unrecorded: list[Fill] = []
        self._sample_interval_s = sample_interval_s
        self._venue = venue
        self._store = store
        self._throttler = throttler
        self._clock = clock
        self._monotonic = monotonic
        """Seconds on a monotonic clock, for how long things take (``clock`` is the venue's time)."""
        self._portfolio = portfolio or Portfolio(capital_usd=0.0, options=[])
        self._portfolio.add(self)
        self._log = get_logger(instrument=spec.symbol)
        self._position = PositionRecord()
        self.orders: dict[str, Order] = {}
        self.target: Decimal | None = None
        self._target_ts: float | None = None
        self._target_decision: TargetDecision | None = None
        self._target_urgency: Urgency | None = None  # the current target's own, if it came with one
        self._redis_down = False
        self._fenced: Fenced | None = None
        self.journal_behind = False
        """True after a write failed: Redis lacks some of this engine's state (:meth:`resync_store`)."""
        self.resync_due = False
        """Set by :meth:`request_resync`: the next decision first writes the state back."""
        self.book: Book | None = None
        self._mid: float | None = None
        self._flow = TradeFlow()
        self.kill: KillSwitch | None = None
        self.factors = MarketFactors()
        self._mids = MidSeries(MAX_MID_SAMPLES)
        self._needs: frozenset[str] | None = None
        self._last_sample_ts = float("-inf")
        self._seen_fills = RecentIds(MAX_SEEN_FILLS)
        self._fill_lock = asyncio.Lock()
        self._bad_books = 0
        self._best_mid: float | None = None
        self._vol: float | None = None
        self._pnl_view: PnlView | None = None
        self._back_off_ticks = 0
        self._quiet_until = float("-inf")
        self._dust_logged_for: Decimal | None = None
        self._started_ts = clock()
        self._wake = asyncio.Event()
        self._woken_at = self._decided_at = 0.0
        self._behind = False
        """This decision started more than BEHIND_AFTER_S after the update that woke it: the
        process is behind, so its Redis round trips are pipelined with the others' (throughput)
        instead of sent at once holding the loop (latency)."""
        self.owned = False
        """True while this instance holds the instrument's lease (the daemon sets it)."""
        self._placed_here: set[str] = set()
        """Client order ids this engine placed since it last attached: their fills are known
        only here (see :meth:`apply_fill`)."""
        self.attached = False
        self.reconciling = False
        """While True (reconciliation running) decisions wait; updates still apply."""
        self._over_budget = False
        self.stopped = False
        """Set by :meth:`stop` (the daemon shutting down): nothing new is placed or moved."""
        self._metrics = metrics
        self._tracker = tracker
        """Measures each target change as a parent order (``execution.completed``)."""
        self._placed_size = ZERO
        self._filled_size = ZERO
        self._actions = 0

    @property
    def attached(self) -> bool:
        """True once reconciliation has loaded the journal: the venue's order updates apply."""
        return self._attached

    @attached.setter
    def attached(self, value: bool) -> None:
        self._attached = value
        self._placed_here.clear()  # attaching again (after a takeover, say): others may have recorded fills
        self._fenced = None

    @property
    def position(self) -> PositionRecord:
        return self._position

    @position.setter
    def position(self, value: PositionRecord) -> None:
        self._position = value
        self._pnl_view = None

    # inputs ---------------------------------------------------------------------------------
    def on_book(self, book: Book) -> None:
        clean, problem = sanitize(book)
        if problem is not None:
            self._bad_books += 1
            if self._bad_books == 1 or self._bad_books % BAD_DATA_LOG_EVERY == 0:
                self._log.warning("market_data.rejected", reason=problem, kept=clean is not None,
                                  count=self._bad_books)
        if clean is None:
            return  # keep the last good book: it ages into the stale-data limit
        book = clean
        self.book = book
        mid = book.mid
        self._mid = float(mid) if mid is not None else None
        if self._position.size != 0 or self._best_mid is not None:
            self._track_best_mid()
        self._pnl_view = None
        if self._mid is not None and book.ts - self._last_sample_ts >= self._sample_interval_s:
            self._mids.append(self._mid)
            self._last_sample_ts = book.ts
            self._vol = None
        self._wake_up()

    def on_trade(self, trade: Trade) -> None:
        """A public print: counted into the recent trade flow that the planner's queue-aware
        urgency reads at the next decision (none is woken; our own fills come as order updates)."""
        self._flow.add(trade)

    def _track_best_mid(self, reset: bool = False) -> None:
        """Keep the most favourable mid since the position opened (for trailing stops)."""
        mid, size = self.mid(), self.position.size
        if size == 0 or reset:
            self._best_mid = None
        if size == 0 or mid is None:
            return
        if self._best_mid is None or (mid - self._best_mid) * (1 if size > 0 else -1) > 0:
            self._best_mid = mid

    def on_factors(self, update: FactorsUpdate) -> None:
        """Venue factors; a non-finite value is treated as not provided."""
        f = update.factors
        bad = {k: None for k in ("funding_rate", "open_interest", "open_interest_change", "basis", "mark_price",
                                 "index_price", "liquidations_usd")
               if getattr(f, k) is not None and not math.isfinite(getattr(f, k))}
        self.factors = replace(f, **bad) if bad else f

    async def on_order_update(self, update: OrderUpdate) -> None:
        if update.post_only_rejected and update.client_order_id in self.orders:
            await self._post_only_rejected(update.client_order_id, update.reason)
            self._wake_up()
            return
        if update.fill is not None:
            await self.apply_fill(update.fill)
        order = self.orders.get(update.client_order_id)
        if order is not None:
            await self._set_order(apply_update(order, update), update.reason)
        self._wake_up()

    def set_kill(self, switch: KillSwitch | None) -> None:
        """The kill switch as last read from Redis; engaging it cancels every working order."""
        if switch is not None and self.kill is None:
            self._log.warning("kill_switch.engaged", scope=switch.scope, reason=switch.reason, by=switch.by,
                              working_orders=len(self.live_orders()))
        elif switch is None and self.kill is not None:
            self._log.info("kill_switch.lifted", scope=self.kill.scope)
        self.kill = switch
        self._wake_up()

    async def apply_fill(self, fill: Fill) -> bool:
        """Count ``fill`` into the position once, by trade id; returns False for a duplicate.

        A fill of an order this engine placed since it last attached (reconciled) can only have
        been seen here, so it counts at once and its write (the fill and the position it
        produces) is queued, not waited for. Any other fill (catching up after a restart or a
        takeover) may have been recorded before: one script checks and records it in one round
        trip, and only a new one counts. Fills are applied one at a time, in order.

        If Redis cannot take it, the fill still counts (it happened) and is written when Redis
        answers again (:meth:`resync_store`)."""
        if fill.trade_id in self._seen_fills:
            async with self._fill_lock:  # if it is being applied, "duplicate" only once it counts
                return False
        self._seen_fills.add(fill.trade_id)
        if fill.client_order_id in self._placed_here and not self._fill_lock.locked():
            p = self.position
            position = self.position = self._with_fill(p, fill)
            self._store.queue_fill(fill, position, lambda exc: self._fill_unrecorded(fill, exc))
            self._counted(fill, p)
            return True
        try:
            await self._fill_lock.acquire()
        except asyncio.CancelledError:
            self._seen_fills.discard(fill.trade_id)  # not counted: a catch-up may apply it
            raise
        try:
            p = self.position
            position = self._with_fill(p, fill)
            recorded, error, cancelled = await _to_the_end(self._store.record_fill(fill, position))
            if error is not None:  # while Redis is away, this run's memory is the record
                self._fill_unrecorded(fill, error)
            elif not recorded:  # recorded before (by an earlier run): already in the position
                if cancelled:
                    raise asyncio.CancelledError
                return False
            self.position = position
        finally:
            self._fill_lock.release()
        self._counted(fill, p)
        if cancelled:
            raise asyncio.CancelledError
        return True

    def _with_fill(self, p: PositionRecord, fill: Fill) -> PositionRecord:
        """The position ``p`` with ``fill`` counted in (size, last fill time, fees, P&L)."""
        return PositionRecord(p.size + fill.signed_size, max(p.last_fill_ts, fill.ts), p.fees + fill.fee,
                              pnl.apply_fill(p.pnl, p.size, fill, self.spec))

    def _fill_unrecorded(self, fill: Fill, exc: BaseException) -> None:
        if not isinstance(exc, Fenced):  # fenced: the new owner reconciles the fill from the venue
            self._unrecorded.append(fill)
        self._unrecorded_write(exc, trade_id=fill.trade_id)

    def _counted(self, fill: Fill, p: PositionRecord) -> None:
        """After ``fill`` moved the position from ``p``."""
        self._track_best_mid(reset=p.size == 0 or (p.size > 0) != (self.position.size > 0))
        self._filled_size += fill.size
        if self._tracker is not None:
            self._tracker.on_fill(fill)
            self._tracker.check(self.symbol, self._clock(), self.position.size, self.book.mid if self.book else None)
        self._log.info("order.filled", client_order_id=fill.client_order_id, side=fill.side.value, price=fill.price,
                       size=fill.size, liquidity=fill.liquidity, fee=fill.fee, fee_currency=fill.fee_currency,
                       position=self.position.size, target=self.target, trade_id=fill.trade_id)

    def restore_target(self, saved: SavedTarget | None) -> None:
        """The target saved before a restart (after modifiers; the policy's own is not kept), with
        the time it was set and its urgency, so its deadline still holds."""
        if saved is None:
            self.target = self._policy_target = None
            return
        self.target = self._policy_target = saved.target
        self._target_ts, self._target_urgency = saved.ts, saved.urgency

    async def flush_unrecorded_fills(self) -> None:
        """Write the fills counted while Redis was away, each with the current position (a fill's
        own position could be older than one recorded since: never write that back)."""
        while self._unrecorded:
            await self._store.record_fill(self._unrecorded[0], self.position)
            self._unrecorded.pop(0)

    async def resync_store(self) -> None:
        """After a Redis outage or a failed write: write the fills, orders and target that could
        not be written (this engine's state is the truth)."""
        self.journal_behind = False
        try:
            await self._resync()
        except BaseException:
            self.journal_behind = True
            raise

    async def _resync(self) -> None:
        await self.flush_unrecorded_fills()
        await self._store.save_position(self.symbol, self.position)
        if self._target_decision is not None:
            await self._store.save_target(self.symbol, self._target_decision, self._policy.type,  # type: ignore[attr-defined]
                                          self._target_ts or self._clock())
        journalled = {o.client_order_id: o for o in await self._store.load_orders(self.symbol)}
        for cid, order in journalled.items():
            if cid not in self.orders:
                await self._store.save_order(replace(order, status=OrderStatus.CANCELLED, reason="resync"))
        for order in list(self.orders.values()):
            await self._store.save_order(order)
        self._log.info("reconcile.resynced", position=self.position.size, working_orders=len(self.live_orders()))

    # decisions --------------------------------------------------------------------------------
    def live_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.status.is_live]

    def mid(self) -> float | None:
        """The latest book's mid (quote currency), ``None`` without a two-sided book."""
        return self._mid

    def position_contracts(self) -> float:
        return float(self.position.size)

    def realised_vol(self) -> float | None:
        """Annualised EWMA (λ 0.94) volatility of the sampled mids; ``None`` with under 3 samples.
        Computed once per new sample (peers ask for it on every decision)."""
        if len(self._mids) < 3:
            return None
        if self._vol is None:
            self._vol = ewma_vol(self._mids.view(), 0.94, self._sample_interval_s)
        return self._vol

    def pnl_view(self) -> PnlView:
        """The P&L view at the current mid; computed once per book or fill."""
        if self._pnl_view is None:
            mark = self.book.mid if self.book is not None else None
            self._pnl_view = pnl.view(self.position.pnl, self.position.size, self.spec, mark, self._best_mid)
        return self._pnl_view

    def state(self, now: float, views: frozenset[str] = VIEWS) -> InstrumentState:
        """What the policy sees; the cross-instrument ``views`` not asked for keep their defaults."""
        return InstrumentState(
            self.spec, now, self.position.size, self.book, self._mids.view(), self._sample_interval_s,
            self._started_ts, self._policy_target, self._target_ts, pnl=self.pnl_view(),
            account=self._portfolio.account(now) if "account" in views else None,
            greeks=self._portfolio.greeks(self, now) if "greeks" in views else GreeksView(),
            peers=self._portfolio.peers(self) if "peers" in views else (), factors=self.factors,
        )

    def _views(self) -> frozenset[str]:
        """The views the policy, its modifiers and the account limits read (once per setting)."""
        if self._needs is None:
            needs = set(self._policy.needs())
            for modifier in self._modifiers:
                needs |= modifier.NEEDS
            if self._account_limits != AccountLimits():
                needs.add("account")
            self._needs = frozenset(needs)
        return self._needs

    def stop(self) -> None:
        """From now on no new order and no amend leaves this engine, whatever task runs it
        (a cancellation a library swallowed included); cancels still go out."""
        self.stopped = True

    def _wake_up(self) -> None:
        """Something changed: the decision task runs on the latest state (updates until then are conflated)."""
        if not self._wake.is_set():
            self._woken_at = self._monotonic()
            self._wake.set()

    async def run(self) -> None:
        """Decide whenever something changed; updates that arrive meanwhile are conflated."""
        while not self.stopped:
            await self._wake.wait()
            self._wake.clear()
            started = self._monotonic()
            # late = waiting for the loop since the wake-up, not for our own previous decision
            self._behind = started - max(self._woken_at, self._decided_at) > BEHIND_AFTER_S
            await self.decide()
            self._decided_at = self._monotonic()
            if self._metrics is not None:
                self._metrics.decision_seconds.labels(self.symbol).observe(self._decided_at - started)

    def reconfigure(self, *, policy: PolicyParams, modifiers: Sequence[ModifierConfig], execution: ExecutionParams,
                    limits: RiskLimits, guards: GuardLimits) -> None:
        """New settings from a reloaded config; they apply from the next decision."""
        self._policy, self._modifiers, self._execution = policy, tuple(modifiers), execution
        self._limits, self._guards = limits, guards
        self._needs = None
        self._wake_up()

    def summary(self) -> dict[str, Any]:
        """The numbers of the periodic ``summary`` event (sizes in contracts, money in USD)."""
        view = self.pnl_view()
        return dict(
            instrument=self.symbol, target=self.target, position=self.position.size,
            working_orders=len(self.live_orders()), working=working_quantity(self.live_orders()),
            realized_pnl_usd=round(view.realized_pnl_usd, 2), unrealized_pnl_usd=round(view.unrealized_pnl_usd, 2),
            fees_usd=round(view.fees_usd, 4), order_actions=self._actions, placed=self._placed_size,
            filled=self._filled_size,
            fill_ratio=float(self._filled_size / self._placed_size) if self._placed_size else None,
            kill_switch=self.kill.scope if self.kill else None,
        )

    def request_resync(self) -> None:
        """Redis answers again: write this engine's state back (:meth:`resync_store`) at the start
        of its next decision, on its own task, so no decision runs meanwhile."""
        self.resync_due = True
        self._wake_up()

    async def decide(self) -> None:
        if self._fenced is not None:
            raise self._fenced  # no longer ours: the daemon stops this engine
        if self.reconciling:
            return  # woken again when reconciliation ends
        if self.resync_due:
            self.resync_due = False
            try:
                await self.resync_store()
            except Fenced:
                raise
            except Exception as exc:  # still behind: the daemon asks again when Redis answers
                self._log.error("journal.write_failed", what="resync", error=type(exc).__name__)
        now = self._clock()
        if self.kill is None:
            reason = tripped(self._guards, self._guard_state, now=now, position=self.position.size,
                             book_ts=self.book.ts if self.book else None, started_ts=self._started_ts)
            if reason is not None:
                await self._trip(self.symbol, "guard", reason, "scalebot:guard")
        if self.kill is not None:
            await self._while_killed(now)
            return
        state = self.state(now, self._views())
        breach = check_account(self._account_limits, state.account) if state.account else None
        if breach is not None:
            await self._trip("global", breach.limit, f"{breach.limit} {breach.limit_value} broken ({breach.actual})",
                             "scalebot:risk")
            return
        decision = compute_target(self._policy, state)
        if decision is not None:
            self._policy_target = decision.target
            if self._modifiers:
                decision = apply_modifiers(self._modifiers, state, decision)
            if decision.target != self.target:
                await self._set_target(decision, now)
        if self.target is None:
            return
        await self._work(self.target, self._target_ts, self._target_params(), now)

    @property
    def target_deadline_ts(self) -> float | None:
        """When the current target is due (s, engine clock), from its urgency; ``None``: no deadline."""
        deadline = self._target_params().urgency.deadline_s
        return self._target_ts + deadline if deadline is not None and self._target_ts is not None else None

    def _target_params(self) -> ExecutionParams:
        """How the current target is worked: the instrument's settings, with the target's own
        urgency when its change came with one."""
        if self._target_urgency is None:
            return self._execution
        return replace(self._execution, urgency=self._target_urgency)

    async def _while_killed(self, now: float) -> None:
        """Cancel everything; with ``flatten``, then close the position with reduce-only orders."""
        assert self.kill is not None
        reason = f"kill switch ({self.kill.scope}): {self.kill.reason}"
        if self.kill.action != "flatten":
            await self.cancel_all(reason)
            return
        for order in self.live_orders():
            if order.side.sign * self.position.size >= 0:  # adds to the position
                await self.cancel(order.client_order_id, reason)
        params = replace(self._execution, urgency=self._flatten_urgency)
        await self._work(ZERO, self.kill.ts, params, now)

    async def _work(self, target: Decimal, target_ts: float | None, params: ExecutionParams, now: float) -> None:
        """Plan and act toward ``target``."""
        book = self.book
        if book is not None and self._venue.books_include_own_orders:
            book = without_own_orders(book, self.live_orders())
        actions = plan(target=target, position=self.position.size, orders=self.live_orders(), book=book,
                       spec=self.spec, params=params, now=now, target_set_ts=target_ts,
                       back_off_ticks=self._back_off_ticks,
                       flow=self._flow.rate(now) if params.urgency.flow_share is not None else None)
        actions, deferred = within_budget(actions, self._throttler.available())
        if deferred and not self._over_budget:  # once per stretch over the account's action budget
            self._log.warning("execution.budget_deferred", deferred=deferred, sending=len(actions))
        self._over_budget = deferred > 0
        if now < self._quiet_until:
            actions = [a for a in actions if not isinstance(a, Place)]  # backing off after rejects
        elif not any(isinstance(a, Place) for a in actions):
            self._note_dust()
        for action in actions:
            await self._execute(action)

    def _note_dust(self) -> None:
        """Log once per target when what is left to do is below the venue's minimum size."""
        diff = (self.target or ZERO) - self.position.size
        if diff == 0 or self._dust_logged_for == self.target or self.live_orders():
            return
        mid = self.book.mid if self.book is not None else None
        if abs(diff) < self.spec.min_size or (mid and self.spec.notional(diff, mid) < self.spec.min_notional):
            self._dust_logged_for = self.target
            self._log.info("execution.dust", target=self.target, position=self.position.size, left=diff,
                           min_size=self.spec.min_size, min_notional=self.spec.min_notional)

    async def _trip(self, scope: str, limit: str, reason: str, by: str) -> None:
        """A limit or guard broke: engage the kill switch of ``scope`` (persisted when Redis
        answers; the daemon writes it later otherwise)."""
        self._log.error("risk.rejected", limit=limit, reason=reason, action="engage_kill_switch", scope=scope)
        switch = KillSwitch(scope, reason, by, self._clock(), self._kill_action)
        try:
            await self._store.engage_kill(scope, reason, by, self._kill_action)
        except Exception as exc:
            self._log.error("redis.unavailable", during="engage_kill", error=type(exc).__name__)
        self.set_kill(switch)

    async def _set_target(self, decision: TargetDecision, now: float) -> None:
        previous, self.target, self._target_ts = self.target, decision.target, now
        self._target_decision, self._target_urgency = decision, decision.urgency
        if self._tracker is not None:
            self._tracker.on_target(self.symbol, now, decision.target, self.position.size,
                                    self.book.mid if self.book else None, self.target_deadline_ts)
        # not waited for: it goes with the next pipeline, in order with the instrument's other writes
        # (an intent sent at once may land first; until the target lands, a restart restores the one before)
        self._store.queue_target(self.symbol, decision, self._policy.type, now,  # type: ignore[attr-defined]
                                 lambda exc: self._unrecorded_write(exc, what="target"))
        self._log.info("target.computed", target=decision.target, previous=previous, unit=decision.unit,
                       position=self.position.size, working=working_quantity(self.live_orders()),
                       policy=self._policy.type, reason=decision.rationale,
                       deadline_s=self._target_params().urgency.deadline_s,
                       **decision.inputs)  # type: ignore[attr-defined]

    # order actions ------------------------------------------------------------------------------
    async def _execute(self, action: Action) -> None:
        self._actions += 1
        if self._tracker is not None:
            self._tracker.on_action(self.symbol)
        if isinstance(action, Cancel):
            await self.cancel(action.client_order_id, action.reason)
        elif isinstance(action, Place):
            await self._place(action)
        else:
            await self._reprice(action)

    async def _may_trade(self, signed_size: Decimal, price: Decimal, exclude: str | None = None) -> bool:
        """Kill switch (re-read from Redis, refused if the lease is lost) and risk limits, right
        before a moved order (a new one's kill-switch read goes with its intent: :meth:`_place`)."""
        if self._fenced is not None:
            return False
        try:
            switch = await self._store.kill_switch(self.scopes, at_once=not self._behind, fenced_for=self.symbol)
            self._redis_down = False
        except Fenced as exc:  # no longer ours: move nothing; the next decision stops this engine
            self._fenced = exc
            return False
        except Exception as exc:  # Redis unreachable: never trade blind
            self._redis_unreachable(exc)
            return False
        switch = switch or self.kill  # a switch engaged locally while Redis was away still holds
        if switch is not None:
            self.set_kill(switch)
            if not (switch.action == "flatten" and signed_size * self.position.size < 0):
                return False  # while engaged only a flattening (reducing) order may go
        return self._within_limits(signed_size, price, exclude)

    def _redis_unreachable(self, exc: BaseException) -> None:
        if not self._redis_down:  # once per outage, not once per book update
            self._log.error("risk.rejected", limit="redis_reachable", limit_value="true", actual=type(exc).__name__)
        self._redis_down = True

    def _within_limits(self, signed_size: Decimal, price: Decimal, exclude: str | None = None) -> bool:
        """The risk limits (local: no Redis) for a new order, or a moved one (``exclude``)."""
        others = [o for o in self.orders.values() if o.status.is_live and o.client_order_id != exclude]
        now = self._clock()
        check = OrderCheck(
            spec=self.spec, book=self.book, position=self.position.size,
            working_same_side=working_quantity([o for o in others if o.side.sign * signed_size > 0]),
            signed_size=signed_size, price=price, now=now, live_orders=len(others),
            mark=Decimal(repr(self.factors.mark_price)) if self.factors.mark_price else None,
            greeks=self._portfolio.greeks(self, now) if self._limits.checks_greeks else GreeksView(),
            is_new=exclude is None,
        )
        rejection = check_order(self._limits, check)
        if rejection is not None:
            self._log.warning("risk.rejected", limit=rejection.limit, limit_value=rejection.limit_value,
                              actual=rejection.actual, side="buy" if signed_size > 0 else "sell", price=price,
                              size=abs(signed_size))
            return False
        return True

    async def _place(self, action: Place) -> None:
        signed_size = action.size * action.side.sign
        reducing = signed_size * self.position.size < 0
        if self.kill is not None and not (self.kill.action == "flatten" and reducing):
            return  # a switch engaged locally (perhaps while Redis was away) still holds
        if self._fenced is not None:
            return  # no longer ours
        if not self._within_limits(signed_size, action.price):
            return
        now = self._clock()
        intent = Order("", self.symbol, action.side, action.price, action.size, OrderStatus.PENDING, now,
                       target=self.target, reason=action.reason)
        # the kill switch re-read from Redis and the intent journalled, in one round trip
        result, error, cancelled = await _to_the_end(
            self._store.place_intent(intent, self.scopes, reducing, at_once=not self._behind))
        if isinstance(error, Fenced):
            self._fenced = error  # the next decision stops this engine
            self._log.error("risk.rejected", limit="journal_writable", limit_value="true", actual=type(error).__name__)
        elif isinstance(error, asyncio.CancelledError):
            pass  # this engine is being stopped: the intent's answer was not waited for
        elif error is not None:  # Redis unreachable: never trade blind
            self._redis_unreachable(error)
            self.journal_behind = True  # Redis may hold the intent: the resync marks it never sent
        else:
            self._redis_down = False
        cid, switch = result if result is not None else (None, None)
        if switch is not None:
            self.set_kill(switch)
        if cid is not None:
            order = Order(cid, self.symbol, action.side, action.price, action.size, OrderStatus.PENDING, now,
                          target=self.target, reason=action.reason)
            self.orders[cid] = order
            self._placed_here.add(cid)
            if cancelled or self.stopped:  # journalled, but this engine is stopping: it is never sent
                await self._set_order(replace(order, status=OrderStatus.REJECTED), "not sent: the engine stopped")
        if cancelled:
            raise asyncio.CancelledError
        if self.stopped:
            return
        if cid is None:
            return  # refused: Redis away, not the owner, or a kill switch (only a reducing order under flatten)
        crossing = action.time_in_force == "IOC"
        request = OrderRequest(self.symbol, cid, action.side, action.price, action.size, post_only=not crossing,
                               time_in_force=action.time_in_force)
        try:
            async with self._throttler:
                update = await self._venue.place_order(request)
        except PostOnlyRejected as exc:
            await self._post_only_rejected(cid, str(exc))
            return
        except OrderRejected as exc:
            self._guard_state = after_reject(self._guard_state)
            await self._set_order(replace(self.orders[cid], status=OrderStatus.REJECTED), str(exc))
            return
        except (VenueError, OSError, asyncio.TimeoutError) as exc:
            self._guard_state = after_error(self._guard_state, self._clock())
            await self._resolve_unknown(cid, exc)
            return
        self._guard_state = after_accept(self._guard_state)
        self._placed_size += action.size
        if not crossing:
            self._back_off_ticks = 0
        self._log.info("order.placed", client_order_id=cid, side=action.side.value, price=action.price,
                       size=action.size, time_in_force=action.time_in_force, target=self.target,
                       position=self.position.size, reason=action.reason)
        await self.on_order_update(update)

    async def _post_only_rejected(self, cid: str, reason: str) -> None:
        """A post-only order would have crossed and was refused: back off (one event, however the
        venue said it)."""
        self._back_off()
        await self._set_order(replace(self.orders[cid], status=OrderStatus.REJECTED),
                              f"{reason}; re-quoting {self._back_off_ticks} tick(s) back")

    def _back_off(self) -> None:
        """Quote one more tick back and pause new orders for a time that doubles with each
        post-only rejection in a row. A post-only rejection is the market moving, not a fault: it
        does not count toward the consecutive-rejects guard (stale data has a guard of its own)."""
        self._back_off_ticks = min(self._back_off_ticks + 1, MAX_BACK_OFF_TICKS)
        self._quiet_until = self._clock() + BACK_OFF_BASE_S * 2 ** (self._back_off_ticks - 1)

    async def _reprice(self, action: Reprice) -> None:
        order = self.orders.get(action.client_order_id)
        if order is None or order.status is not OrderStatus.OPEN:
            return
        if not self._venue.supports_amend:
            await self.cancel(order.client_order_id, f"reprice by cancel and replace: {action.reason}")
            return
        if not await self._may_trade(order.remaining * order.side.sign, action.price, exclude=order.client_order_id):
            return
        if self.stopped:
            return
        try:
            async with self._throttler:
                update = await self._venue.amend_order(self.symbol, order.client_order_id, action.price)
        except PostOnlyRejected as exc:  # the order stays where it was; the next quote backs off
            self._back_off()
            self._log.warning("order.rejected", client_order_id=order.client_order_id, action="reprice",
                              price=action.price, reason=f"{exc}; re-quoting {self._back_off_ticks} tick(s) back")
            return
        except OrderRejected as exc:
            self._log.warning("order.rejected", client_order_id=order.client_order_id, action="reprice",
                              price=action.price, reason=str(exc))
            return
        except (VenueError, OSError, asyncio.TimeoutError) as exc:
            self._guard_state = after_error(self._guard_state, self._clock())
            self._log.error("order.reprice_failed", client_order_id=order.client_order_id, error=str(exc))
            return
        current = self.orders.get(order.client_order_id)
        if current is not None and update.status is OrderStatus.OPEN:
            await self._set_order(replace(current, price=action.price, created_ts=self._clock()), "")
            self._log.info("order.repriced", client_order_id=order.client_order_id, side=order.side.value,
                           old_price=order.price, price=action.price, size=current.remaining, reason=action.reason)
        else:
            await self.on_order_update(update)

    async def cancel(self, cid: str, reason: str) -> None:
        """Cancel one order. Never gated by the kill switch or Redis: cancels always go out."""
        order = self.orders.get(cid)
        if order is None or not order.status.is_live:
            return
        pending = replace(order, status=OrderStatus.CANCEL_PENDING, reason=reason)
        self.orders[cid] = pending
        self._journal(pending)  # not waited for: nothing waits on Redis before a cancel
        try:
            async with self._throttler:
                update = await self._venue.cancel_order(self.symbol, cid)
        except OrderNotFound:
            await self._set_order(replace(pending, status=OrderStatus.REJECTED), "venue does not know it")
            return
        except (VenueError, OSError, asyncio.TimeoutError) as exc:
            self._guard_state = after_error(self._guard_state, self._clock())
            self._log.error("order.cancel_failed", client_order_id=cid, error=str(exc))
            return
        await self.on_order_update(update)

    async def cancel_all(self, reason: str) -> None:
        for order in self.live_orders():
            await self.cancel(order.client_order_id, reason)

    async def _resolve_unknown(self, cid: str, exc: BaseException) -> None:
        """A send whose outcome is unknown: ask the venue instead of sending again."""
        try:
            venue_order = await self._venue.fetch_order(self.symbol, cid)
        except OrderNotFound:
            await self._set_order(replace(self.orders[cid], status=OrderStatus.REJECTED), f"not at venue after {exc!r}")
            return
        except Exception as again:  # still unknown: keep it PENDING (it counts as working)
            self._log.error("order.state_unknown", client_order_id=cid, error=repr(again))
            return
        await self.on_order_update(OrderUpdate(self.symbol, cid, venue_order.status, venue_order.filled,
                                               venue_order.venue_order_id, "resolved after unknown send"))

    def _journal(self, order: Order) -> None:
        """Journal an order's change without waiting: the store sends it with its next pipeline,
        in order with the instrument's other writes; a failure is logged and marks the journal
        behind (:attr:`journal_behind`)."""
        try:
            self._store.queue_order(order, lambda exc: self._unrecorded_write(exc, what=order.client_order_id))
        except Exception as exc:
            self._unrecorded_write(exc, what=order.client_order_id)

    def _unrecorded_write(self, exc: BaseException, **what: str) -> None:
        """A write that was not waited for (an order's change, a target, a fill) failed. Fenced:
        the lease is lost, and the next decision says so. Otherwise the journal is behind this
        engine's state until :meth:`resync_store` writes it again (the daemon does once Redis
        answers); ``what`` names the write in the log."""
        if isinstance(exc, Fenced):
            self._fenced = exc
            return
        self.journal_behind = True
        self._log.error("journal.write_failed", **what, error=type(exc).__name__)

    async def _set_order(self, order: Order, reason: str) -> None:
        """Keep and journal a changed order (see :meth:`_journal`), then log a terminal state;
        terminal orders leave."""
        if self.orders.get(order.client_order_id) == order:
            return
        if order.status.is_live:
            self.orders[order.client_order_id] = order
        else:
            self.orders.pop(order.client_order_id, None)
            self._placed_here.discard(order.client_order_id)  # a late fill takes the checked way
        self._journal(order)
        if order.status.is_live:
            return
        fields: dict[str, Any] = dict(client_order_id=order.client_order_id, side=order.side.value,
                                      price=order.price, size=order.size, filled=order.filled,
                                      position=self.position.size, target=self.target)
        if order.status is OrderStatus.CANCELLED:
            self._log.info("order.cancelled", reason=order.reason or reason, **fields)
        elif order.status is OrderStatus.REJECTED:
            self._log.warning("order.rejected", reason=reason or order.reason, **fields)
