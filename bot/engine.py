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
from collections import deque
from dataclasses import replace
from decimal import Decimal
from typing import Any, Callable, Sequence

from asyncio_throttle import Throttler

from bot.core import pnl
from bot.core.market_data import sanitize
from bot.core.modifiers import ModifierConfig, apply_modifiers
from bot.core.orders import apply_update
from bot.core.guards import GuardLimits, GuardState, after_accept, after_error, after_reject, tripped
from bot.core.planner import (
    Action, Cancel, ExecutionParams, Place, Reprice, Urgency, plan, without_own_orders, working_quantity,
)
from bot.core.policies import TargetDecision, compute_target
from bot.core.policies.base import VIEWS, PolicyParams
from bot.core.risk import AccountLimits, OrderCheck, RiskLimits, check_account, check_order
from bot.core.policies.volatility_target import ewma_vol
from bot.core.types import (
    ZERO, Book, FactorsUpdate, Fill, GreeksView, InstrumentSpec, InstrumentState, MarketFactors, Order, OrderStatus, OrderUpdate, PnlView,
)
from bot.execution_tracking import ExecutionTracker
from bot.log import get_logger
from bot.metrics import Metrics
from bot.portfolio import Portfolio
from bot.state.base import Fenced, KillSwitch, PositionRecord, SavedTarget, Store, kill_scopes
from bot.venues.base import OrderNotFound, OrderRejected, OrderRequest, PostOnlyRejected, Venue, VenueError

MAX_MID_SAMPLES = 2048
BAD_DATA_LOG_EVERY = 1000
"""A run of rejected books is logged on the first and then every this many."""
MAX_BACK_OFF_TICKS = 5
BACK_OFF_BASE_S = 0.1
"""After the n-th post-only rejection in a row, quote n ticks back and place nothing new for
BACK_OFF_BASE_S × 2^(n-1) seconds."""


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
        throttler: Throttler,
        clock: Callable[[], float],
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
        self._unrecorded: list[tuple[Fill, PositionRecord]] = []
        self._sample_interval_s = sample_interval_s
        self._venue = venue
        self._store = store
        self._throttler = throttler
        self._clock = clock
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
        self.book: Book | None = None
        self.kill: KillSwitch | None = None
        self.factors = MarketFactors()
        self._mids: deque[float] = deque(maxlen=MAX_MID_SAMPLES)
        self._last_sample_ts = float("-inf")
        self._seen_fills: set[str] = set()
        self._bad_books = 0
        self._best_mid: float | None = None
        self._vol: float | None = None
        self._pnl_view: PnlView | None = None
        self._back_off_ticks = 0
        self._quiet_until = float("-inf")
        self._dust_logged_for: Decimal | None = None
        self._started_ts = clock()
        self._wake = asyncio.Event()
        self.owned = False
        """True while this instance holds the instrument's lease (the daemon sets it)."""
        self.attached = False
        """True once reconciliation has loaded the journal: the venue's order updates apply."""
        self.reconciling = False
        """While True (reconciliation running) decisions wait; updates still apply."""
        self._metrics = metrics
        self._tracker = tracker
        """Measures each target change as a parent order (``execution.completed``)."""
        self._placed_size = ZERO
        self._filled_size = ZERO
        self._actions = 0

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
        self._track_best_mid()
        self._pnl_view = None
        if book.mid is not None and book.ts - self._last_sample_ts >= self._sample_interval_s:
            self._mids.append(float(book.mid))
            self._last_sample_ts = book.ts
            self._vol = None
        self._wake.set()

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
            self._wake.set()
            return
        if update.fill is not None:
            await self.apply_fill(update.fill)
        order = self.orders.get(update.client_order_id)
        if order is not None:
            await self._set_order(apply_update(order, update), update.reason)
        self._wake.set()

    def set_kill(self, switch: KillSwitch | None) -> None:
        """The kill switch as last read from Redis; engaging it cancels every working order."""
        if switch is not None and self.kill is None:
            self._log.warning("kill_switch.engaged", scope=switch.scope, reason=switch.reason, by=switch.by,
                              working_orders=len(self.live_orders()))
        elif switch is None and self.kill is not None:
            self._log.info("kill_switch.lifted", scope=self.kill.scope)
        self.kill = switch
        self._wake.set()

    async def apply_fill(self, fill: Fill) -> bool:
        """Count ``fill`` into the position once, by trade id; returns False for a duplicate.

        If Redis cannot take it, the fill still counts (it happened) and is written when Redis
        answers again (:meth:`resync_store`)."""
        if fill.trade_id in self._seen_fills:
            return False
        try:
            known = await self._store.known_fill(self.symbol, fill.trade_id)
        except Exception:
            known = False  # while Redis is away, this run's memory is the record
        self._seen_fills.add(fill.trade_id)
        if known:
            return False
        p = self.position
        self.position = PositionRecord(p.size + fill.signed_size, max(p.last_fill_ts, fill.ts), p.fees + fill.fee,
                                       pnl.apply_fill(p.pnl, p.size, fill, self.spec))
        self._track_best_mid(reset=p.size == 0 or (p.size > 0) != (self.position.size > 0))
        self._filled_size += fill.size
        if self._tracker is not None:
            self._tracker.on_fill(fill)
            self._tracker.check(self.symbol, self._clock(), self.position.size, self.book.mid if self.book else None)
        try:
            await self._store.record_fill(fill, self.position)
        except Exception as exc:
            self._unrecorded.append((fill, self.position))
            self._log.error("journal.write_failed", trade_id=fill.trade_id, error=type(exc).__name__)
        self._log.info("order.filled", client_order_id=fill.client_order_id, side=fill.side.value, price=fill.price,
                       size=fill.size, liquidity=fill.liquidity, fee=fill.fee, fee_currency=fill.fee_currency,
                       position=self.position.size, target=self.target, trade_id=fill.trade_id)
        return True

    def restore_target(self, saved: SavedTarget | None) -> None:
        """The target saved before a restart (after modifiers; the policy's own is not kept), with
        the time it was set and its urgency, so its deadline still holds."""
        if saved is None:
            self.target = self._policy_target = None
            return
        self.target = self._policy_target = saved.target
        self._target_ts, self._target_urgency = saved.ts, saved.urgency

    async def flush_unrecorded_fills(self) -> None:
        """Write the fills counted while Redis was away (each with the position it produced)."""
        while self._unrecorded:
            fill, position = self._unrecorded[0]
            await self._store.record_fill(fill, position)
            self._unrecorded.pop(0)

    async def resync_store(self) -> None:
        """After a Redis outage: write the fills, orders and target that could not be written."""
        await self.flush_unrecorded_fills()
        await self._store.save_position(self.symbol, self.position)
        if self._target_decision is not None:
            await self._store.save_target(self.symbol, self._target_decision, self._policy.type,  # type: ignore[attr-defined]
                                          self._target_ts or self._clock())
        journalled = {o.client_order_id: o for o in await self._store.load_orders(self.symbol)}
        for cid, order in journalled.items():
            if cid not in self.orders:
                await self._store.save_order(replace(order, status=OrderStatus.CANCELLED, reason="resync"))
        for order in self.orders.values():
            await self._store.save_order(order)
        self._log.info("reconcile.resynced", position=self.position.size, working_orders=len(self.live_orders()))

    # decisions --------------------------------------------------------------------------------
    def live_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.status.is_live]

    def mid(self) -> float | None:
        return float(self.book.mid) if self.book is not None and self.book.mid is not None else None

    def position_contracts(self) -> float:
        return float(self.position.size)

    def realised_vol(self) -> float | None:
        """Annualised EWMA (λ 0.94) volatility of the sampled mids; ``None`` with under 3 samples.
        Computed once per new sample (peers ask for it on every decision)."""
        if len(self._mids) < 3:
            return None
        if self._vol is None:
            self._vol = ewma_vol(tuple(self._mids), 0.94, self._sample_interval_s)
        return self._vol

    def pnl_view(self) -> PnlView:
        """The P&L view at the current mid; computed once per book or fill."""
        if self._pnl_view is None:
            mark = self.book.mid if self.book is not None else None
            self._pnl_view = replace(pnl.view(self.position.pnl, self.position.size, self.spec, mark),
                                     best_mid_since_entry=self._best_mid)
        return self._pnl_view

    def state(self, now: float, views: frozenset[str] = VIEWS) -> InstrumentState:
        """What the policy sees; the cross-instrument ``views`` not asked for keep their defaults."""
        return InstrumentState(
            self.spec, now, self.position.size, self.book, tuple(self._mids), self._sample_interval_s,
            self._started_ts, self._policy_target, self._target_ts, pnl=self.pnl_view(),
            account=self._portfolio.account(now) if "account" in views else None,
            greeks=self._portfolio.greeks(self, now) if "greeks" in views else GreeksView(),
            peers=self._portfolio.peers(self) if "peers" in views else (), factors=self.factors,
        )

    def _views(self) -> frozenset[str]:
        """The views the policy, its modifiers and the account limits read."""
        needs = set(self._policy.needs())
        for modifier in self._modifiers:
            needs |= modifier.NEEDS
        if self._account_limits != AccountLimits():
            needs.add("account")
        return frozenset(needs)

    async def run(self) -> None:
        """Decide whenever something changed; updates that arrive meanwhile are conflated."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            started = time.perf_counter()
            await self.decide()
            if self._metrics is not None:
                self._metrics.decision_seconds.labels(self.symbol).observe(time.perf_counter() - started)

    def reconfigure(self, *, policy: PolicyParams, modifiers: Sequence[ModifierConfig], execution: ExecutionParams,
                    limits: RiskLimits, guards: GuardLimits) -> None:
        """New settings from a reloaded config; they apply from the next decision."""
        self._policy, self._modifiers, self._execution = policy, tuple(modifiers), execution
        self._limits, self._guards = limits, guards
        self._wake.set()

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

    async def decide(self) -> None:
        if self.reconciling:
            return  # woken again when reconciliation ends
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
                       back_off_ticks=self._back_off_ticks)
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
        try:
            await self._store.save_target(self.symbol, decision, self._policy.type, now)  # type: ignore[attr-defined]
        except Fenced:
            raise  # no longer ours: the daemon stops this engine
        except Exception as exc:  # Redis away: the target still holds; written again on return
            self._log.error("journal.write_failed", what="target", error=type(exc).__name__)
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
        """Kill switch (re-read from Redis) and risk limits, right before a new or moved order."""
        try:
            switch = await self._store.kill_switch(self.scopes)
            self._redis_down = False
        except Exception as exc:  # Redis unreachable: never trade blind
            if not self._redis_down:  # once per outage, not once per book update
                self._log.error("risk.rejected", limit="redis_reachable", limit_value="true",
                                actual=type(exc).__name__)
            self._redis_down = True
            return False
        switch = switch or self.kill  # a switch engaged locally while Redis was away still holds
        if switch is not None:
            self.set_kill(switch)
            if not (switch.action == "flatten" and signed_size * self.position.size < 0):
                return False  # while engaged only a flattening (reducing) order may go
        others = [o for o in self.live_orders() if o.client_order_id != exclude]
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
        if not await self._may_trade(action.size * action.side.sign, action.price):
            return
        now = self._clock()
        try:
            cid = await self._store.next_client_order_id(self.symbol)
            order = Order(cid, self.symbol, action.side, action.price, action.size, OrderStatus.PENDING, now,
                          target=self.target, reason=action.reason)
            await self._store.save_order(order)  # the intent, before anything is sent
        except Exception as exc:
            self._log.error("risk.rejected", limit="journal_writable", limit_value="true", actual=type(exc).__name__)
            return
        self.orders[cid] = order
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
        """A post-only order would have crossed: back off one more tick and pause new orders for
        a time that doubles with each rejection in a row (one event, however the venue said it)."""
        self._guard_state = after_reject(self._guard_state)
        self._back_off_ticks = min(self._back_off_ticks + 1, MAX_BACK_OFF_TICKS)
        self._quiet_until = self._clock() + BACK_OFF_BASE_S * 2 ** (self._back_off_ticks - 1)
        await self._set_order(replace(self.orders[cid], status=OrderStatus.REJECTED),
                              f"{reason}; re-quoting {self._back_off_ticks} tick(s) back")

    async def _reprice(self, action: Reprice) -> None:
        order = self.orders.get(action.client_order_id)
        if order is None or order.status is not OrderStatus.OPEN:
            return
        if not self._venue.supports_amend:
            await self.cancel(order.client_order_id, f"reprice by cancel and replace: {action.reason}")
            return
        if not await self._may_trade(order.remaining * order.side.sign, action.price, exclude=order.client_order_id):
            return
        try:
            async with self._throttler:
                update = await self._venue.amend_order(self.symbol, order.client_order_id, action.price)
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
        try:
            await self._store.save_order(pending)
        except Exception as exc:
            self._log.error("journal.write_failed", client_order_id=cid, error=type(exc).__name__)
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

    async def _set_order(self, order: Order, reason: str) -> None:
        """Keep and journal a changed order, then log a terminal state; terminal orders leave."""
        if self.orders.get(order.client_order_id) == order:
            return
        if order.status.is_live:
            self.orders[order.client_order_id] = order
        else:
            self.orders.pop(order.client_order_id, None)
        try:
            await self._store.save_order(order)
        except Exception as exc:
            self._log.error("journal.write_failed", client_order_id=order.client_order_id, error=type(exc).__name__)
        if order.status.is_live:
            return
        fields: dict[str, Any] = dict(client_order_id=order.client_order_id, side=order.side.value,
                                      price=order.price, size=order.size, filled=order.filled,
                                      position=self.position.size, target=self.target)
        if order.status is OrderStatus.CANCELLED:
            self._log.info("order.cancelled", reason=order.reason or reason, **fields)
        elif order.status is OrderStatus.REJECTED:
            self._log.warning("order.rejected", reason=reason or order.reason, **fields)
