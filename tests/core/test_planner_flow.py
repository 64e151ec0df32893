"""The planner's queue-aware urgency: the recent trade flow (:class:`TradeFlow`, :class:`Flow`),
the *behind* test (queue ahead + remaining vs the volume expected to trade against our side before
the deadline) and what a target that is behind does differently: it follows the touch at once (no
minimum lifetime, no reprice tolerance) and rests the whole difference (no depth clip). Sizes in
contracts, prices in quote currency, rates in contracts per second, times in seconds.

Book of ``support.book()``: bid 100 (3), ask 101 (2), tick 0.5.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bot.engine as engine_module
from bot.core.planner import (
    ExecutionParams, Flow, Place, Reprice, TradeFlow, Urgency, behind, escalation_ticks, must_cross, plan, quote_price,
)
from bot.core.policies.target_schedule import Params as Schedule, ScheduleStep
from bot.core.risk import RiskLimits
from bot.core.types import Book, Side
from bot.engine import InstrumentEngine
from bot.state.memory import MemoryStore
from bot.throttle import OrderBudget

from .support import book, order, spec, trade
from .test_planner_execution import states

D = Decimal
NOW = 1000.0
URGENT = Urgency(deadline_s=30, flow_share=1.0)
SCANT = Flow(buy=D("0.01"), sell=D("0.01"))  # 0.01/s × 20 s left = 0.2 expected: far behind
AMPLE = Flow(buy=D(100), sell=D(100))


def prm(**overrides) -> ExecutionParams:
    fields = dict(max_order_size=D("2"), reprice_tolerance_ticks=1, min_order_lifetime_s=1.0, max_working_orders=2,
                  urgency=URGENT)
    fields.update(overrides)
    return ExecutionParams(**fields)


def run(target: str, orders=(), bk: Book | None = None, params: ExecutionParams | None = None,
        flow: Flow | None = None, age: float = 10.0) -> list:
    return plan(target=D(target), position=D(0), orders=list(orders), book=book() if bk is None else bk,
                spec=spec(), params=params or prm(), now=NOW, target_set_ts=NOW - age, flow=flow)


# -- the flow ------------------------------------------------------------------------------------

def test_trade_flow_sums_by_aggressor_side_and_forgets_prints_older_than_the_window() -> None:
    flow = TradeFlow(window_s=10)
    flow.add(trade("101", "1.5", Side.BUY, ts=1000))
    flow.add(trade("100", "0.25", Side.SELL, ts=1005))
    flow.add(trade("101", "0.5", Side.BUY, ts=1009))
    assert flow.rate(1010) == Flow(buy=D("0.2"), sell=D("0.025"))  # 2.0 and 0.25 over 10 s, exactly
    assert flow.rate(1012) == Flow(buy=D("0.05"), sell=D("0.025"))  # the print of 1000 has left the window
    assert flow.rate(1030) == Flow(buy=D(0), sell=D(0))


def test_trade_flow_stays_bounded_when_the_rate_is_never_read() -> None:
    flow = TradeFlow(window_s=10)
    for i in range(1000):
        flow.add(trade("101", "1", Side.BUY, ts=1000 + i))
    assert len(flow._buckets) == 11  # the buckets of the last 10 s (both ends) only
    assert flow.rate(1999) == Flow(buy=D("1.1"), sell=D(0))


def test_trade_flow_keeps_one_bucket_a_second_however_many_prints() -> None:
    flow = TradeFlow(window_s=10)
    for i in range(5000):  # 500 prints a second for 10 s
        flow.add(trade("101", "0.002", Side.SELL if i % 2 else Side.BUY, ts=1000 + i / 500))
    flow.add(trade("101", "0.5", Side.BUY, ts=1005))  # late: counted in the latest bucket
    assert len(flow._buckets) == 10
    assert flow.rate(1010) == Flow(buy=D("0.55"), sell=D("0.5"))  # exact sums over the 10 s
    assert flow.rate(1011) == Flow(buy=D("0.5"), sell=D("0.45"))  # the first second has left


def test_trade_flow_before_a_whole_window_divides_by_the_time_seen() -> None:
    flow = TradeFlow(window_s=30, min_span_s=1)
    assert flow.rate(1000) is None  # no print yet: unknown, not zero
    flow.add(trade("101", "3", Side.BUY, ts=1000))
    assert flow.rate(1002).buy == D("1.5")  # 2 s seen, not 30
    assert flow.rate(1000.5).buy == D("3")  # at least min_span_s
    assert flow.rate(1030).buy == D("0.1")


def test_flow_against_a_side_is_the_other_sides_aggression() -> None:
    flow = Flow(buy=D(1), sell=D(2))
    assert flow.against(Side.BUY) == D(2)  # sellers hit our bids
    assert flow.against(Side.SELL) == D(1)  # buyers lift our offers


# -- behind --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "urgency, flow, side, price, age, expected",
    [
        # bid 100 shows 3; remaining 1; 20 s left: needs 4, expects 0.2/s × 20 = 4 → on time
        (URGENT, Flow(buy=D(0), sell=D("0.2")), Side.BUY, "100", 10.0, False),
        (URGENT, Flow(buy=D(0), sell=D("0.19")), Side.BUY, "100", 10.0, True),  # expects 3.8
        (URGENT, Flow(buy=D(9), sell=D("0.19")), Side.BUY, "100", 10.0, True),  # buyers do not fill our bids
        (Urgency(deadline_s=30, flow_share=0.5), Flow(buy=D(0), sell=D("0.3")), Side.BUY, "100", 10.0, True),
        (URGENT, Flow(buy=D(0), sell=D("0.3")), Side.BUY, "100", 10.0, False),
        # one tick inside the bid nothing is ahead: 1 needed, 0.06 × 20 = 1.2 expected
        (URGENT, Flow(buy=D(0), sell=D("0.06")), Side.BUY, "100.5", 10.0, False),
        # the ask side: 2 ahead at 101 + 1 = 3 vs 0.1 × 20 = 2
        (URGENT, Flow(buy=D("0.1"), sell=D(0)), Side.SELL, "101", 10.0, True),
        (URGENT, Flow(buy=D("0.15"), sell=D(0)), Side.SELL, "101", 10.0, False),
        # disabled, unknown or past the deadline: never behind
        (Urgency(deadline_s=30), SCANT, Side.BUY, "100", 10.0, False),
        (Urgency(flow_share=1.0), SCANT, Side.BUY, "100", 10.0, False),
        (URGENT, None, Side.BUY, "100", 10.0, False),
        (URGENT, SCANT, Side.BUY, "100", None, False),
        (URGENT, SCANT, Side.BUY, "100", 30.0, False),
    ],
)
def test_behind(urgency: Urgency, flow, side: Side, price: str, age, expected: bool) -> None:
    assert behind(urgency, flow, side, book(), D(price), D(1), age) is expected


def test_behind_counts_every_level_at_and_ahead_of_the_price() -> None:
    deep = book(bids=(("100", "3"), ("99.5", "10"), ("99", "50")))
    # at 99.5: 3 + 10 ahead + 1 = 14 needed; 0.65/s × 20 s = 13 expected
    assert behind(URGENT, Flow(buy=D(0), sell=D("0.65")), Side.BUY, deep, D("99.5"), D(1), 10.0)
    assert not behind(URGENT, Flow(buy=D(0), sell=D("0.7")), Side.BUY, deep, D("99.5"), D(1), 10.0)


# -- what a target that is behind does -----------------------------------------------------------

MOVED = book(bids=(("101", "1"),), asks=(("101.5", "2"),))  # the bid went up two ticks


def test_behind_follows_the_touch_at_once_despite_the_minimum_lifetime() -> None:
    young = order("a", Side.BUY, "100", "1", created_ts=NOW - 0.2)  # 2 ticks behind, 0.2 s old
    assert run("1", [young], MOVED, flow=AMPLE) == []  # on time: waits out the minimum lifetime
    assert run("1", [young], MOVED, flow=None) == []
    assert run("1", [young], MOVED, params=prm(urgency=Urgency(deadline_s=30)), flow=SCANT) == []  # disabled
    [reprice] = run("1", [young], MOVED, flow=SCANT)
    assert isinstance(reprice, Reprice) and (reprice.client_order_id, reprice.price) == ("a", D("101"))
    assert "behind" in reprice.reason


def test_behind_leaves_no_tolerance_behind_the_touch() -> None:
    one_tick_off = order("a", Side.BUY, "100.5", "1", created_ts=NOW - 50)  # within 1 tick of the bid 101
    assert run("1", [one_tick_off], MOVED, flow=AMPLE) == []
    [reprice] = run("1", [one_tick_off], MOVED, flow=SCANT)
    assert (reprice.client_order_id, reprice.price) == ("a", D("101"))


def test_behind_leaves_an_order_at_the_touch_alone() -> None:
    at_touch = order("a", Side.BUY, "101", "1", created_ts=NOW - 0.2)
    assert run("1", [at_touch], MOVED, flow=SCANT) == []  # its queue place is all it has


def test_behind_rests_the_whole_difference_instead_of_a_depth_clipped_slice() -> None:
    clipped = prm(depth_fraction=0.1)  # 10 % of the 3 shown at 100
    assert run("1", params=clipped, flow=AMPLE) == [Place(Side.BUY, D("100"), D("0.3"), "work difference 1")]
    assert run("1", params=clipped, flow=SCANT) == [Place(Side.BUY, D("100"), D("1"), "work difference 1")]
    assert run("5", params=clipped, flow=SCANT) == [Place(Side.BUY, D("100"), D("2"), "work difference 5")]  # max


def test_behind_does_not_change_the_crossing_at_the_deadline() -> None:
    late = run("1", flow=SCANT, age=30.0)
    assert late == run("1", flow=AMPLE, age=30.0) == run("1", flow=None, age=30.0)
    assert [p.time_in_force for p in late] == ["IOC"]


# -- properties ----------------------------------------------------------------------------------

flows = st.one_of(st.none(), st.builds(Flow, buy=st.integers(0, 10**5).map(lambda n: D(n) / 1000),
                                       sell=st.integers(0, 10**5).map(lambda n: D(n) / 1000)))


@settings(max_examples=300, deadline=None)
@given(states(), flows, st.sampled_from([0.1, 0.5, 1.0, 3.0]))
def test_queue_aware_urgency_keeps_the_target_invariant_and_only_relaxes_timing_and_clipping(
        state, flow, share) -> None:
    """With the flow known the plan may reprice sooner or rest a larger slice, but position plus
    live same-side remaining plus Places still never passes the target, prices stay where they
    would be without it, the crossing at the deadline is unchanged, and a disabled or unknown flow
    changes nothing."""
    base = state["params"]
    on = replace(base, urgency=replace(base.urgency, flow_share=share))
    actions = plan(**{**state, "params": on, "flow": flow})
    without = plan(**state)
    assert plan(**{**state, "params": on, "flow": None}) == without
    assert plan(**{**state, "flow": flow}) == without  # flow_share None: off

    diff = state["target"] - state["position"]
    placed = [a for a in actions if isinstance(a, Place)]
    if diff == 0:
        assert placed == []
        return
    want = Side.of(diff)
    age = None if state["target_set_ts"] is None else NOW - state["target_set_ts"]
    bk, instrument = state["book"], state["spec"]
    if bk is None or must_cross(on.urgency, age, diff):
        assert actions == without
        return
    live_same = [o for o in state["orders"] if o.status.is_live and o.side is want]
    before = state["position"] + sum((o.signed_remaining for o in live_same), D(0))
    after = before + sum((p.size * p.side.sign for p in placed), D(0))
    if (state["target"] - before) * want.sign >= 0:
        assert (state["target"] - after) * want.sign >= 0
    else:
        assert placed == []
    quote = quote_price(want, bk, instrument, on, escalation_ticks(on.urgency, age) - state["back_off_ticks"])
    levels = {quote - want.sign * instrument.tick_size * i for i in range(on.layers)} if quote is not None else set()
    for p in placed:
        assert (p.side, p.time_in_force) == (want, "GTC") and p.price in levels and p.size <= on.max_order_size
    for r in (a for a in actions if isinstance(a, Reprice)):
        assert r.price in levels
    assert {a.client_order_id for a in without if isinstance(a, Reprice)} <= \
        {a.client_order_id for a in actions if isinstance(a, Reprice)}


# -- the engine feeds it -------------------------------------------------------------------------

@pytest.mark.parametrize("urgency, expected", [
    (URGENT, [None, Flow(buy=D("1.5"), sell=D("0.5"))]),  # 3 and 1 over the 2 s seen
    (Urgency(deadline_s=30), [None, None]),  # not asked for: not computed
])
async def test_the_engine_passes_the_recent_public_prints_to_the_planner(monkeypatch, urgency, expected) -> None:
    seen: list = []

    def spy(**kwargs):
        seen.append(kwargs["flow"])
        return []

    monkeypatch.setattr(engine_module, "plan", spy)
    clock = [NOW]
    engine = InstrumentEngine(
        spec=spec(), policy=Schedule(steps=[ScheduleStep(after_s=0, target=D(1))]),
        execution=ExecutionParams(max_order_size=D(1), urgency=urgency),
        limits=RiskLimits(max_position=D(10), max_order_size=D(1), stale_after_s=30),
        sample_interval_s=1.0, venue=SimpleNamespace(books_include_own_orders=False), store=MemoryStore(),
        throttler=OrderBudget(rate_limit=100), clock=lambda: clock[0])
    engine.on_book(book(ts=NOW))
    await engine.decide()
    engine.on_trade(trade("101", "3", Side.BUY, ts=NOW))
    engine.on_trade(trade("100", "1", Side.SELL, ts=NOW + 1))
    clock[0] = NOW + 2
    await engine.decide()
    assert seen == expected
