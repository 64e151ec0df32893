"""Gates on the engine's order path: post-only rejections back the quote off a tick (place or
amend) and, being the market moving rather than a fault, never trip the consecutive-rejects
guard; a stopped engine sends nothing new, whichever task still runs it; beyond the account's
action budget new orders wait for a later decision while cancels still go."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from structlog.testing import capture_logs

from bot.core.guards import GuardLimits
from bot.core.planner import Cancel, ExecutionParams, Place, Reprice, within_budget
from bot.core.policies.target_schedule import Params as Schedule, ScheduleStep
from bot.core.risk import RiskLimits
from bot.core.types import OrderStatus, OrderUpdate, Side
from bot.engine import BEHIND_AFTER_S, MAX_BACK_OFF_TICKS, InstrumentEngine
from bot.state.memory import MemoryStore
from bot.throttle import OrderBudget
from bot.venues.base import OrderRequest, PostOnlyRejected

from .support import book, spec

D = Decimal


class RefusingVenue:
    """Takes the first ``accept`` orders, refuses every later one (and every amend) as post-only."""

    books_include_own_orders = False
    supports_amend = True

    def __init__(self, accept: int = 0):
        self.accept = accept
        self.placed: list[OrderRequest] = []
        self.amends: list[Decimal] = []

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        self.placed.append(request)
        if len(self.placed) > self.accept:
            raise PostOnlyRejected(f"{request.client_order_id}: post-only order would cross")
        return OrderUpdate(request.symbol, request.client_order_id, OrderStatus.OPEN, D(0), "v1")

    async def amend_order(self, symbol: str, client_order_id: str, price: Decimal) -> OrderUpdate:
        self.amends.append(price)
        raise PostOnlyRejected(f"{client_order_id}: amend would cross")


def engine(venue: RefusingVenue, now: list[float], store: MemoryStore | None = None,
           wall: list[float] | None = None, **execution: Any) -> InstrumentEngine:
    """An engine to target 1 on ``venue`` (``now`` its clock; ``wall`` its monotonic clock if given)."""
    return InstrumentEngine(
        spec=spec(), policy=Schedule(steps=[ScheduleStep(after_s=0, target=D("1"))]),
        execution=ExecutionParams(**{"max_order_size": D("1"), "min_order_lifetime_s": 0.0, **execution}),
        limits=RiskLimits(max_position=D(5), max_order_size=D(1), stale_after_s=1e9),
        guards=GuardLimits(max_consecutive_rejects=3),
        sample_interval_s=1.0, venue=venue, store=store or MemoryStore(), throttler=OrderBudget(rate_limit=1000),
        clock=lambda: now[0], **({"monotonic": lambda: wall[0]} if wall is not None else {}))


def quote_book(e: InstrumentEngine, now: list[float]) -> None:
    """The book the tests quote on (bid 10000 × 3, ask 10003 × 2), dated ``now``."""
    e.on_book(book(bids=(("10000", "3"),), asks=(("10003", "2"),), ts=now[0]))


async def test_a_run_of_post_only_rejections_backs_off_without_tripping_the_guard() -> None:
    now = [1000.0]
    venue = RefusingVenue()
    e = engine(venue, now)
    for _ in range(MAX_BACK_OFF_TICKS + 3):
        quote_book(e, now)
        await e.decide()
        now[0] += 10.0  # past every back-off pause
    assert len(venue.placed) == MAX_BACK_OFF_TICKS + 3, "every round re-quotes"
    assert e.kill is None, "post-only rejections are not faults: no kill switch"
    # each rejection quotes one tick (0.5) further back, up to the cap
    prices = [r.price for r in venue.placed]
    assert prices[:MAX_BACK_OFF_TICKS + 1] == [D(10000) - D("0.5") * k for k in range(MAX_BACK_OFF_TICKS + 1)]
    assert set(prices[MAX_BACK_OFF_TICKS:]) == {D(10000) - D("0.5") * MAX_BACK_OFF_TICKS}
    assert all(r.post_only for r in venue.placed)


async def test_an_amend_refused_as_post_only_keeps_the_order_and_backs_off() -> None:
    now = [1000.0]
    venue = RefusingVenue(accept=1)
    e = engine(venue, now)
    quote_book(e, now)
    await e.decide()
    [resting] = e.live_orders()
    assert resting.price == D(10000)
    now[0] += 5.0
    e.on_book(book(bids=(("10001", "3"),), asks=(("10003", "2"),), ts=now[0]))  # the touch moves up
    await e.decide()
    assert venue.amends == [D(10001)]
    assert [o.price for o in e.live_orders()] == [D(10000)], "the refused amend leaves the order where it was"
    assert e._back_off_ticks == 1 and e.kill is None


async def test_a_stopped_engine_places_and_moves_nothing_and_its_loop_ends() -> None:
    now = [1000.0]
    venue = RefusingVenue(accept=10)
    e = engine(venue, now)
    quote_book(e, now)
    e.stop()
    await e.decide()  # as a task whose cancellation was lost would
    assert venue.placed == [] and e.live_orders() == []
    await asyncio.wait_for(e.run(), 1.0)  # returns at once: a stopped engine decides no more
    control = engine(venue, now)  # the same, not stopped, does place
    quote_book(control, now)
    await control.decide()
    assert len(venue.placed) == 1 and len(control.live_orders()) == 1


async def test_over_the_action_budget_new_orders_wait_and_cancels_still_go() -> None:
    now = [1000.0]
    venue = RefusingVenue(accept=10)
    e = engine(venue, now)
    e._throttler = OrderBudget(rate_limit=1, period=0.2)
    async with e._throttler:  # another engine of the account spent the budget
        pass
    quote_book(e, now)
    with capture_logs() as logs:
        await e.decide()
        await e.decide()
    assert venue.placed == [], "nothing new beyond the budget: it waits for the next decision"
    assert [x["event"] for x in logs].count("execution.budget_deferred") == 1  # once per stretch
    await asyncio.sleep(0.25)
    await e.decide()
    assert len(venue.placed) == 1


def test_within_budget_keeps_every_cancel_then_the_rest_in_order() -> None:
    place = Place(Side.BUY, D(10000), D(1), "work")
    reprice = Reprice("o2", D(10001), "touch moved")
    cancels = [Cancel("o1", "stale"), Cancel("o3", "over")]
    assert within_budget([place, cancels[0], reprice, cancels[1]], 3) == ([*cancels, place], 1)
    assert within_budget([place, cancels[0], reprice, cancels[1]], 0) == (cancels, 2)
    assert within_budget([place, reprice], 5) == ([place, reprice], 0)


class FlakyJournal(MemoryStore):
    """Queued order and target writes fail while ``down``, as Redis on a dead connection."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True

    def queue_order(self, order, failed=None):  # type: ignore[no-untyped-def]
        if self.down and failed is not None:
            failed(ConnectionError("connection closed"))
            return
        super().queue_order(order, failed)

    def queue_target(self, symbol, decision, policy, ts, failed):  # type: ignore[no-untyped-def]
        if self.down:
            failed(ConnectionError("connection closed"))
            return
        super().queue_target(symbol, decision, policy, ts, failed)


async def test_a_failed_queued_write_marks_the_journal_behind_until_resynced() -> None:
    now = [1000.0]
    venue = RefusingVenue(accept=1)
    store = FlakyJournal()
    e = engine(venue, now, store)
    quote_book(e, now)
    with capture_logs() as logs:
        await e.decide()
    assert e.journal_behind and len(venue.placed) == 1
    assert {"target", venue.placed[0].client_order_id} <= {x.get("what") for x in logs
                                                           if x["event"] == "journal.write_failed"}
    assert store.targets == {} and all(o.status is OrderStatus.PENDING for o in store.orders["BTC-PERP"].values())
    store.down = False
    e.request_resync()  # the daemon, once Redis answers: the engine writes its state back itself
    await e.decide()
    assert not e.journal_behind and not e.resync_due
    assert store.targets["BTC-PERP"].target == D("1")
    assert [o.status for o in store.orders["BTC-PERP"].values()] == [OrderStatus.OPEN]


class IntentLog(MemoryStore):
    """Notes whether each intent asked to be answered at once."""

    def __init__(self) -> None:
        super().__init__()
        self.at_once: list[bool] = []

    async def place_intent(self, order, scopes, reducing, at_once=True):  # type: ignore[no-untyped-def]
        self.at_once.append(at_once)
        return await super().place_intent(order, scopes, reducing, at_once)


async def test_a_decision_that_starts_late_batches_its_intent_instead_of_holding_the_loop() -> None:
    """Latency while the process keeps up, throughput once it is behind: an intent goes at once
    unless its decision started more than BEHIND_AFTER_S after the update that woke it."""
    now, wall = [1000.0], [50.0]
    store = IntentLog()
    e = engine(RefusingVenue(accept=10), now, store, wall, max_working_orders=1)
    runner = asyncio.create_task(e.run())

    async def one_decision(late_s: float) -> None:
        quote_book(e, now)  # woken at wall[0]
        wall[0] += late_s  # when the decision task gets the loop
        placed = len(store.at_once)
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(store.at_once) == placed + 1

    await one_decision(late_s=0.0001)
    for o in list(e.orders.values()):  # make room for the next quote
        e.orders.pop(o.client_order_id)
    await one_decision(late_s=BEHIND_AFTER_S * 2)
    assert store.at_once == [True, False]
    e.stop()
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)


class LostIntentReply(MemoryStore):
    """Records the intent, then the reply is lost (a timeout): its fate is unknown to the engine."""

    async def place_intent(self, order, scopes, reducing, at_once=True):  # type: ignore[no-untyped-def]
        await super().place_intent(order, scopes, reducing, at_once)
        raise TimeoutError("no reply within 100 ms")


async def test_an_intent_whose_reply_is_lost_is_not_sent_and_is_cancelled_by_the_resync() -> None:
    now = [1000.0]
    venue = RefusingVenue(accept=10)
    store = LostIntentReply()
    e = engine(venue, now, store)
    quote_book(e, now)
    await e.decide()
    assert venue.placed == [] and e.journal_behind, "never trade blind"
    assert [o.status for o in store.orders["BTC-PERP"].values()] == [OrderStatus.PENDING]  # the orphan intent
    await e.resync_store()
    assert store.orders["BTC-PERP"] == {} and not e.journal_behind  # marked cancelled: left the working set


async def test_waiting_for_its_own_slow_venue_call_does_not_make_the_next_decision_late() -> None:
    """An update that arrives while a decision waits on the venue stamps the wake-up then; the
    next decision is late only by what it waited after the previous one ended."""
    now, wall = [1000.0], [50.0]
    store = IntentLog()

    class SlowVenue(RefusingVenue):
        async def place_order(self, request):  # type: ignore[no-untyped-def]
            quote_book(e, now)  # a book meanwhile
            wall[0] += 0.020  # then the answer, 20 ms after the call
            return await super().place_order(request)

    e = engine(SlowVenue(accept=10), now, store, wall, max_order_size=D("0.2"), max_working_orders=5)
    runner = asyncio.create_task(e.run())
    quote_book(e, now)
    for _ in range(50):
        await asyncio.sleep(0)
    e.stop()
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert len(store.at_once) >= 2 and all(store.at_once), store.at_once
