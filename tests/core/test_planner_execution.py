"""The planner's execution features: improving the touch, depth clipping, layers, urgency
(escalation toward the other side, then IOC crossing inside a band), back-off after post-only
rejections, and removing our own orders from the book. Sizes in contracts, prices in quote
currency, times in seconds.

The central property stays the one of ``test_planner.py``: position plus everything still
working toward the target plus whatever is placed never passes the target, whatever the features.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from bot.core.planner import (
    Cancel,
    ExecutionParams,
    Place,
    Reprice,
    Urgency,
    escalation_ticks,
    must_cross,
    plan,
    quote_price,
    without_own_orders,
    working_quantity,
)
from bot.core.types import Book, InstrumentSpec, Level, Order, OrderStatus, Side

from .support import book, order, spec

D = Decimal
S = OrderStatus
NOW = 1000.0
TICK = D("0.5")  # support.spec()'s tick
BASE = ExecutionParams(max_order_size=D("2"), reprice_tolerance_ticks=1, min_order_lifetime_s=1.0,
                       max_working_orders=2)


def params(**overrides) -> ExecutionParams:
    fields = dict(max_order_size=BASE.max_order_size, reprice_tolerance_ticks=BASE.reprice_tolerance_ticks,
                  min_order_lifetime_s=BASE.min_order_lifetime_s, max_working_orders=BASE.max_working_orders)
    fields.update(overrides)
    return ExecutionParams(**fields)


def run(target: str, position: str = "0", orders=(), bk: Book | None = None, prm: ExecutionParams = BASE,
        instrument: InstrumentSpec | None = None, age: float | None = None, back_off: int = 0) -> list:
    return plan(target=D(target), position=D(position), orders=list(orders), book=book() if bk is None else bk,
                spec=instrument or spec(), params=prm, now=NOW,
                target_set_ts=None if age is None else NOW - age, back_off_ticks=back_off)


def places(actions: list) -> list[Place]:
    return [a for a in actions if isinstance(a, Place)]


def only_place(actions: list) -> Place:
    found = places(actions)
    assert len(found) == 1, actions
    return found[0]


WIDE = book(bids=(("100", "3"), ("99.5", "10")), asks=(("103", "2"), ("103.5", "4")))  # 6 ticks
ONE_TICK = book(bids=(("100", "3"),), asks=(("100.5", "2"),))


# -- improving or joining the touch -------------------------------------------------------------

@pytest.mark.parametrize(
    "bk, improve_when, side, expected",
    [
        (book(), 2, Side.BUY, "100.5"),  # 2-tick spread ≥ 2: one tick inside the bid
        (book(), 2, Side.SELL, "100.5"),  # ... and inside the ask
        (book(), 3, Side.BUY, "100"),  # 2-tick spread < 3: join
        (book(), 3, Side.SELL, "101"),
        (book(), None, Side.BUY, "100"),  # None: always join
        (WIDE, 1, Side.BUY, "100.5"),
        (WIDE, 1, Side.SELL, "102.5"),
        (ONE_TICK, 1, Side.BUY, "100"),  # improving would hit the ask: stays at the touch
        (ONE_TICK, 1, Side.SELL, "100.5"),
        (ONE_TICK, 0, Side.BUY, "100"),
    ],
)
def test_improve_on_a_wide_spread_join_on_a_narrow_one(bk: Book, improve_when, side: Side, expected: str) -> None:
    prm = params(improve_when_spread_ticks=improve_when)
    assert quote_price(side, bk, spec(), prm, 0) == D(expected)
    target = "1" if side is Side.BUY else "-1"
    assert only_place(run(target, bk=bk, prm=prm)) == Place(side, D(expected), D("1"), f"work difference {D(target)}")


def test_locked_book_quotes_one_tick_behind_the_far_touch() -> None:
    locked = book(bids=(("100", "1"),), asks=(("100", "1"),))
    assert quote_price(Side.BUY, locked, spec(), params(improve_when_spread_ticks=1), 0) == D("99.5")
    assert quote_price(Side.SELL, locked, spec(), params(), 0) == D("100.5")


def test_no_own_touch_no_quote() -> None:
    assert quote_price(Side.BUY, book(bids=()), spec(), params(improve_when_spread_ticks=1), 3) is None
    assert run("1", bk=book(bids=()), prm=params(improve_when_spread_ticks=1), age=1000.0) == []


@settings(max_examples=200, deadline=None)
@given(tick=st.sampled_from([D("0.01"), D("0.5"), D("1"), D("5")]), bid_ticks=st.integers(1000, 100000),
       spread=st.integers(1, 10), improve_when=st.one_of(st.none(), st.integers(0, 6)),
       steps=st.integers(-5, 15), side=st.sampled_from(list(Side)))
def test_quote_price_model(tick, bid_ticks, spread, improve_when, steps, side) -> None:
    """The quote = touch moved (steps + improvement) ticks inward, capped one tick inside the far
    touch; always on the grid and strictly passive."""
    bid = tick * bid_ticks
    ask = bid + tick * spread
    bk = Book("BTC-PERP", (Level(bid, D(1)),), (Level(ask, D(1)),), NOW)
    prm = params(improve_when_spread_ticks=improve_when)
    price = quote_price(side, bk, spec(tick_size=tick), prm, steps)
    improve = 1 if improve_when is not None and spread >= improve_when else 0
    if side is Side.BUY:
        assert price == min(bid + tick * (steps + improve), ask - tick)
        assert price < ask
    else:
        assert price == max(ask - tick * (steps + improve), bid + tick)
        assert price > bid
    assert price % tick == 0


# -- escalation and back-off --------------------------------------------------------------------

ESCALATE = params(urgency=Urgency(escalate_after_s=10, step_every_s=5))


@pytest.mark.parametrize(
    "age, buy, sell",
    [
        (None, "100", "103"),  # no date: no escalation
        (0.0, "100", "103"),
        (9.99, "100", "103"),  # before escalate_after_s: at the touch
        (10.0, "100.5", "102.5"),  # one tick inward
        (14.99, "100.5", "102.5"),
        (15.0, "101", "102"),  # one more tick per step_every_s
        (20.0, "101.5", "101.5"),
        (25.0, "102", "101"),
        (30.0, "102.5", "100.5"),  # one tick inside the far touch ...
        (35.0, "102.5", "100.5"),  # ... and no further
        (10_000.0, "102.5", "100.5"),
    ],
)
def test_escalation_steps_inward_and_stops_one_tick_inside(age, buy: str, sell: str) -> None:
    p_buy = only_place(run("1", bk=WIDE, prm=ESCALATE, age=age))
    p_sell = only_place(run("-1", bk=WIDE, prm=ESCALATE, age=age))
    assert (p_buy.price, p_sell.price) == (D(buy), D(sell))
    assert p_buy.time_in_force == p_sell.time_in_force == "GTC"  # still post-only


def test_escalation_on_a_one_tick_spread_stays_at_the_touch() -> None:
    assert only_place(run("1", bk=ONE_TICK, prm=ESCALATE, age=500.0)).price == D("100")
    assert only_place(run("-1", bk=ONE_TICK, prm=ESCALATE, age=500.0)).price == D("100.5")


@pytest.mark.parametrize(
    "urgency, age, expected",
    [
        (Urgency(), 1e9, 0),  # escalate_after_s None: never
        (Urgency(escalate_after_s=0, step_every_s=1), 0.0, 1),
        (Urgency(escalate_after_s=0, step_every_s=1), 2.5, 3),
        (Urgency(escalate_after_s=10, step_every_s=5), None, 0),
        (Urgency(escalate_after_s=10, step_every_s=5), -1.0, 0),
        (Urgency(escalate_after_s=10, step_every_s=5), 19.99, 2),
    ],
)
def test_escalation_ticks(urgency: Urgency, age, expected: int) -> None:
    assert escalation_ticks(urgency, age) == expected


def test_escalated_quote_moves_a_resting_order_only_beyond_tolerance() -> None:
    resting = order("o1", Side.BUY, "100", "1", S.OPEN, created_ts=NOW - 50)
    # 1 tick inward: within the 1-tick tolerance, left alone
    assert run("1", orders=[resting], bk=WIDE, prm=ESCALATE, age=10.0) == []
    # 2 ticks inward: repriced to the new quote, still strictly below the ask
    assert run("1", orders=[resting], bk=WIDE, prm=ESCALATE, age=15.0) == [
        Reprice("o1", D("101"), "touch moved to 101.0")]
    assert run("1", orders=[resting], bk=WIDE, prm=ESCALATE, age=500.0) == [
        Reprice("o1", D("102.5"), "touch moved to 102.5")]


@pytest.mark.parametrize(
    "back_off, improve_when, buy, sell",
    [
        (0, None, "100", "101"),
        (1, None, "99.5", "101.5"),
        (3, None, "98.5", "102.5"),
        (1, 2, "100", "101"),  # improvement and one tick of back-off cancel out
        (2, 2, "99.5", "101.5"),
    ],
)
def test_back_off_moves_the_quote_away_from_the_touch(back_off: int, improve_when, buy: str, sell: str) -> None:
    prm = params(improve_when_spread_ticks=improve_when)
    assert only_place(run("1", prm=prm, back_off=back_off)).price == D(buy)
    assert only_place(run("-1", prm=prm, back_off=back_off)).price == D(sell)


def test_back_off_offsets_escalation() -> None:
    # escalated 2 ticks (age 15), backed off 2: at the touch
    assert only_place(run("1", bk=WIDE, prm=ESCALATE, age=15.0, back_off=2)).price == D("100")


# -- depth fraction -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "fraction, target, instrument, bk, improve_when, expected",
    [
        (0.25, "5", spec(), book(), None, "0.75"),  # 25 % of the 3 shown at the bid
        (0.5, "5", spec(), book(), None, "1.5"),
        (1.0, "5", spec(), book(), None, "2"),  # 3 shown, but max_order_size 2
        (0.25, "0.5", spec(), book(), None, "0.5"),  # capacity smaller than the clip
        (0.1, "5", spec(min_size=D("1")), book(), None, "1"),  # 0.3 < min size: min size
        (0.1, "0.5", spec(min_size=D("0.1")), book(), None, "0.3"),
        (0.3333, "5", spec(), book(), None, "0.999"),  # 0.9999 truncated to the lot
        (0.3333, "5", spec(lot_size=D("0.1"), min_size=D("0.1")), book(), None, "0.9"),
        (0.25, "5", spec(), book(), 2, "0.75"),  # improved price has no level: the touch's size
    ],
)
def test_depth_fraction_clips_to_a_share_of_the_displayed_size(fraction, target, instrument, bk, improve_when,
                                                               expected) -> None:
    prm = params(depth_fraction=fraction, improve_when_spread_ticks=improve_when)
    assert only_place(run(target, bk=bk, prm=prm, instrument=instrument)).size == D(expected)


def test_depth_fraction_on_a_sell_uses_the_ask_size() -> None:
    bk = book(asks=(("101", "8"),))
    assert only_place(run("-5", bk=bk, prm=params(depth_fraction=0.125))) == Place(
        Side.SELL, D("101"), D("1.000"), "work difference -5")


def test_depth_fraction_with_capacity_below_min_size_places_nothing() -> None:
    # capacity 0.05 < min size 0.1: the min-size floor must not inflate the order beyond capacity
    assert run("0.05", prm=params(depth_fraction=0.01), instrument=spec(min_size=D("0.1"))) == []


def test_depth_fraction_uses_the_size_at_a_deeper_layer() -> None:
    prm = params(depth_fraction=0.25, layers=2, max_order_size=D("5"))
    resting = order("a", Side.BUY, "100", "0.5", S.PENDING, created_ts=NOW)
    # first level taken, next is 99.5 where 10 are shown: 2.5
    assert only_place(run("5", orders=[resting], bk=WIDE, prm=prm)) == Place(
        Side.BUY, D("99.5"), D("2.500"), "work difference 5")


# -- layers -------------------------------------------------------------------------------------

LAYERS = params(layers=3, max_working_orders=3, max_order_size=D("1"))


@pytest.mark.parametrize(
    "resting, expected",
    [
        ([], "100"),
        ([("a", "100")], "99.5"),
        ([("a", "99.5")], "100"),  # first FREE level, not the next one
        ([("a", "100"), ("b", "99.5")], "99"),
        ([("a", "100"), ("b", "99")], "99.5"),
    ],
)
def test_layers_new_order_goes_to_the_first_free_level(resting, expected: str) -> None:
    orders = [order(c, Side.BUY, p, "1", S.OPEN, created_ts=NOW - 100) for c, p in resting]
    actions = run("10", orders=orders, prm=LAYERS)
    assert actions == [Place(Side.BUY, D(expected), D("1"), "work difference 10")]


def test_layers_on_the_sell_side_go_upward() -> None:
    orders = [order("a", Side.SELL, "101", "1", S.PENDING, created_ts=NOW)]
    assert run("-10", orders=orders, prm=LAYERS) == [Place(Side.SELL, D("101.5"), D("1"), "work difference -10")]


@pytest.mark.parametrize("price", ["98.5", "100.5"])  # one tick beyond the deepest / above the first layer
def test_layers_order_within_tolerance_of_any_layer_is_left_alone(price: str) -> None:
    resting = order("a", Side.BUY, price, "1", S.OPEN, created_ts=NOW - 100)
    actions = run("10", orders=[resting], prm=LAYERS)
    assert [a for a in actions if not isinstance(a, Place)] == []
    assert only_place(actions).price == D("100")


def test_layers_stale_order_is_repriced_to_the_first_free_level() -> None:
    orders = [order("a", Side.BUY, "100", "1", S.OPEN, created_ts=NOW - 100),
              order("b", Side.BUY, "97.5", "1", S.OPEN, created_ts=NOW - 100)]  # 3 ticks below the deepest layer
    assert run("10", orders=orders, prm=LAYERS) == [Reprice("b", D("99.5"), "touch moved to 99.5"),
                                                    Place(Side.BUY, D("99"), D("1"), "work difference 10")]


def test_layers_respect_max_working_orders() -> None:
    orders = [order(c, Side.BUY, p, "1", S.OPEN, created_ts=NOW) for c, p in (("a", "100"), ("b", "99.5"))]
    assert run("10", orders=orders, prm=params(layers=3, max_working_orders=2)) == []


# -- crossing at the deadline or beyond the hard band ---------------------------------------------

DEADLINE = params(urgency=Urgency(escalate_after_s=10, step_every_s=5, deadline_s=30, cross_band_bps=D(10)))
FINE = spec(tick_size=D("0.01"))


@pytest.mark.parametrize(
    "target, expected",
    [
        ("1", Place(Side.BUY, D("101.10"), D("1"), "escalate: cross 1 by IOC", "IOC")),  # floor(101 × 1.001)
        ("-1", Place(Side.SELL, D("99.90"), D("1"), "escalate: cross -1 by IOC", "IOC")),  # ceil(100 × 0.999)
        ("5", Place(Side.BUY, D("101.10"), D("2"), "escalate: cross 5 by IOC", "IOC")),  # max_order_size
    ],
)
def test_at_the_deadline_crosses_with_an_ioc_inside_the_band(target: str, expected: Place) -> None:
    assert run(target, prm=DEADLINE, instrument=FINE, age=30.0) == [expected]
    assert run(target, prm=DEADLINE, instrument=FINE, age=3000.0) == [expected]


def test_just_before_the_deadline_still_rests_post_only() -> None:
    p = only_place(run("1", prm=DEADLINE, instrument=FINE, age=29.99))
    assert p.time_in_force == "GTC" and p.price < D("101")


@pytest.mark.parametrize("band_bps, buy, sell", [("0", "101", "100"), ("10", "101", "100"), ("100", "102", "99"),
                                                 ("150", "102.5", "98.5")])
def test_ioc_limit_on_the_tick_grid_within_the_band(band_bps: str, buy: str, sell: str) -> None:
    prm = params(urgency=Urgency(deadline_s=0, cross_band_bps=D(band_bps)))
    p_buy, p_sell = only_place(run("1", prm=prm, age=0.0)), only_place(run("-1", prm=prm, age=0.0))
    assert (p_buy.price, p_sell.price) == (D(buy), D(sell))
    assert D("101") <= p_buy.price <= D("101") * (1 + D(band_bps) / 10_000)
    assert D("100") * (1 - D(band_bps) / 10_000) <= p_sell.price <= D("100")
    assert p_buy.price % TICK == 0 and p_sell.price % TICK == 0


def test_deadline_cancels_resting_orders_and_crosses_only_the_uncovered_rest() -> None:
    orders = [order("a", Side.BUY, "100", "0.5", S.OPEN, created_ts=NOW - 40),
              order("b", Side.BUY, "99.5", "0.3", S.OPEN, created_ts=NOW),
              order("p", Side.BUY, "100", "0.2", S.PENDING, created_ts=NOW)]
    actions = run("3", orders=orders, prm=DEADLINE, instrument=FINE, age=30.0)
    cancels = [a for a in actions if isinstance(a, Cancel)]
    assert {c.client_order_id for c in cancels} == {"a", "b"}  # every OPEN one, not the pending one
    assert all(c.reason.startswith("escalate") for c in cancels)
    assert not any(isinstance(a, Reprice) for a in actions)
    # 3 − (0.5 + 0.3 + 0.2) still live = 2.0 may cross now
    assert places(actions) == [Place(Side.BUY, D("101.10"), D("2.0"), "escalate: cross 3 by IOC", "IOC")]


@pytest.mark.parametrize("status", [S.OPEN, S.PENDING, S.CANCEL_PENDING])
def test_deadline_no_ioc_while_same_side_size_covers_the_difference(status: OrderStatus) -> None:
    resting = order("a", Side.BUY, "100", "1", status, created_ts=NOW - 40)
    expected = [Cancel("a", "escalate: cross")] if status is S.OPEN else []
    assert run("1", orders=[resting], prm=DEADLINE, age=30.0) == expected


def test_deadline_partially_filled_order_counts_only_its_remaining() -> None:
    resting = order("a", Side.BUY, "100", "1", S.OPEN, created_ts=NOW - 40, filled="0.4")
    assert run("1", orders=[resting], prm=DEADLINE, instrument=FINE, age=30.0) == [
        Cancel("a", "escalate: cross"), Place(Side.BUY, D("101.10"), D("0.4"), "escalate: cross 1 by IOC", "IOC")]


def test_deadline_oversized_open_order_is_cancelled_once() -> None:
    big = order("big", Side.BUY, "100", "3", S.OPEN, created_ts=NOW - 40)
    actions = run("1", orders=[big], prm=DEADLINE, age=30.0)
    assert [a.client_order_id for a in actions if isinstance(a, Cancel)] == ["big"]
    assert places(actions) == []  # its 3 are still live until the cancel is confirmed


@pytest.mark.parametrize("status, expected", [
    (S.OPEN, [Cancel("s", "wrong side")]),
    (S.PENDING, []),
    (S.CANCEL_PENDING, []),
    (S.FILLED, [Place(Side.BUY, D("101"), D("1"), "escalate: cross 1 by IOC", "IOC")]),
    (S.CANCELLED, [Place(Side.BUY, D("101"), D("1"), "escalate: cross 1 by IOC", "IOC")]),
])
def test_deadline_no_ioc_while_an_opposite_order_is_live(status: OrderStatus, expected: list) -> None:
    other = order("s", Side.SELL, "101", "1", status, created_ts=NOW - 40)
    assert run("1", orders=[other], prm=DEADLINE, age=30.0) == expected


def test_deadline_without_a_far_touch_only_cancels() -> None:
    resting = order("a", Side.BUY, "100", "0.5", S.OPEN, created_ts=NOW - 40)
    assert run("1", orders=[resting], bk=book(asks=()), prm=DEADLINE, age=30.0) == [Cancel("a", "escalate: cross")]


def test_deadline_respects_min_notional_at_the_limit() -> None:
    assert run("0.5", prm=DEADLINE, instrument=spec(min_notional=D("60")), age=30.0) == []
    assert places(run("0.6", prm=DEADLINE, instrument=spec(min_notional=D("60")), age=30.0))[0].size == D("0.6")


HARD = params(urgency=Urgency(deadline_s=30, hard_band=D("1"), cross_band_bps=D(10)))


@pytest.mark.parametrize("age", [None, 0.0, 5.0])
def test_hard_band_crosses_before_the_deadline(age) -> None:
    resting = order("a", Side.SELL, "101", "0.5", S.OPEN, created_ts=NOW - 40)
    assert run("-2", orders=[resting], prm=HARD, instrument=FINE, age=age) == [
        Cancel("a", "escalate: cross"), Place(Side.SELL, D("99.90"), D("1.5"), "escalate: cross -2 by IOC", "IOC")]


def test_within_the_hard_band_rests_post_only() -> None:
    assert run("1", prm=HARD, age=5.0) == [Place(Side.BUY, D("100"), D("1"), "work difference 1")]  # |1| ≤ 1
    assert run("-1.001", prm=HARD, age=5.0)[0].time_in_force == "IOC"


@pytest.mark.parametrize(
    "urgency, age, diff, expected",
    [
        (Urgency(), 1e9, D("1e6"), False),
        (Urgency(deadline_s=30), 29.999, D(1), False),
        (Urgency(deadline_s=30), 30.0, D(1), True),
        (Urgency(deadline_s=30), None, D(1), False),
        (Urgency(hard_band=D(1)), None, D(-1), False),
        (Urgency(hard_band=D(1)), None, D("-1.001"), True),
        (Urgency(hard_band=D(0)), None, D("0.001"), True),
    ],
)
def test_must_cross(urgency: Urgency, age, diff: Decimal, expected: bool) -> None:
    assert must_cross(urgency, age, diff) is expected


# -- the invariants under every feature at once ---------------------------------------------------

@st.composite
def instruments(draw) -> InstrumentSpec:
    tick = draw(st.sampled_from([D("0.01"), D("0.5"), D("1")]))
    lot = draw(st.sampled_from([D("0.001"), D("0.01"), D("1")]))
    inverse = draw(st.booleans())
    return spec(tick_size=tick, lot_size=lot, min_size=lot * draw(st.integers(1, 5)), inverse=inverse,
                contract_size=D("100") if inverse else draw(st.sampled_from([D("1"), D("1"), D("0.01")])),
                min_notional=draw(st.sampled_from([D(0), D("0.001")] if inverse else [D(0), D(0), D(10), D(1000)])))


@st.composite
def books(draw, tick: Decimal) -> Book | None:
    if draw(st.integers(0, 14)) == 14:
        return None
    bid = tick * draw(st.integers(int(D(50) / tick), int(D(150) / tick)))
    ask = bid + tick * draw(st.sampled_from([1, 1, 2, 3, 5, 12]))  # 1-tick and wide spreads
    depth = st.integers(1, 5000).map(lambda n: D(n) / 100)

    def side(start: Decimal, step: Decimal) -> tuple[Level, ...]:
        if draw(st.integers(0, 9)) == 9:
            return ()
        return tuple(Level(start + step * i, draw(depth)) for i in range(draw(st.integers(1, 3))))

    return Book("BTC-PERP", side(bid, -tick), side(ask, tick), NOW)


@st.composite
def working_orders(draw, tick: Decimal, lot: Decimal, near: Decimal,
                   sides: tuple[Side, ...] = tuple(Side)) -> list[Order]:
    out = []
    for i in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3, 5]))):
        size = lot * draw(st.integers(1, int(D(20) / lot)))  # up to 20 contracts, like the differences
        status = draw(st.sampled_from(list(S)))
        out.append(order(f"o{i}", draw(st.sampled_from(sides)), str(near + tick * draw(st.integers(-6, 6))),
                         str(size), status, created_ts=NOW - draw(st.sampled_from([0.0, 0.5, 1.0, 5.0, 50.0])),
                         filled=str(lot * draw(st.integers(0, int(size / lot) - 1)))))
    return out


urgencies = st.builds(
    Urgency,
    escalate_after_s=st.sampled_from([None, 0.0, 5.0, 10.0]),
    step_every_s=st.sampled_from([0.5, 1.0, 5.0]),
    deadline_s=st.sampled_from([None, None, 20.0, 60.0]),
    hard_band=st.sampled_from([None, None, None, D("0.5"), D("2"), D("10")]),
    cross_band_bps=st.sampled_from([D(0), D(5), D(10), D(50)]),
)


@st.composite
def states(draw):
    instrument = draw(instruments())
    bk = draw(books(instrument.tick_size))
    amount = st.integers(-20000, 20000).map(lambda n: D(n) / 1000)
    position = draw(amount)
    delta = st.integers(1, 20000).map(lambda n: D(n) / 1000) | st.integers(1, 20).map(lambda n: instrument.lot_size * n)
    target = position if draw(st.integers(0, 9)) == 9 else position + draw(delta) * draw(st.sampled_from([1, -1]))
    # orders mostly on the side that moves toward the target (opposite ones block every Place)
    want = Side.of(target - position) if target != position else Side.BUY
    near = (bk.touch(want) or bk.touch(want.opposite) or D(100)) if bk else D(100)
    orders = draw(working_orders(instrument.tick_size, instrument.lot_size, near,
                                 (want, want, want, want.opposite)))
    lot = instrument.lot_size
    prm = ExecutionParams(max_order_size=draw(st.sampled_from([lot * 5, lot * 50, lot * 3000, D("0.001")])),
                          reprice_tolerance_ticks=draw(st.integers(0, 3)),
                          min_order_lifetime_s=draw(st.sampled_from([0.0, 1.0, 3.0])),
                          max_working_orders=draw(st.integers(1, 4)),
                          improve_when_spread_ticks=draw(st.one_of(st.none(), st.integers(0, 4))),
                          depth_fraction=draw(st.sampled_from([None, 0.01, 0.1, 0.25, 1.0])),
                          layers=draw(st.integers(1, 4)),
                          urgency=draw(urgencies))
    age = draw(st.one_of(st.none(), st.sampled_from([0.0, 4.9, 5.0, 12.0, 19.99, 20.0, 59.0, 60.0, 1000.0]),
                         st.floats(0, 200)))
    return dict(target=target, position=position, orders=orders, book=bk, spec=instrument, params=prm, now=NOW,
                target_set_ts=None if age is None else NOW - age, back_off_ticks=draw(st.integers(0, 4)))


@settings(max_examples=300, deadline=None)
@given(states())
def test_plan_invariants_with_every_execution_feature(state) -> None:
    actions = plan(**state)
    target, position, instrument, prm, bk = (state[k] for k in ("target", "position", "spec", "params", "book"))
    tick = instrument.tick_size
    live = {o.client_order_id: o for o in state["orders"] if o.status.is_live}
    placed = places(actions)
    cancels = {a.client_order_id: a.reason for a in actions if isinstance(a, Cancel)}
    reprices = [a for a in actions if isinstance(a, Reprice)]

    touched = [a.client_order_id for a in actions if isinstance(a, (Cancel, Reprice))]
    assert len(touched) == len(set(touched))  # nothing cancelled twice or both cancelled and repriced
    assert all(c in live and live[c].status is S.OPEN for c in touched)
    assert len(placed) <= 1  # at most one Place per plan

    if target == position:
        event("target reached")
        assert placed == [] and reprices == []
        return

    want = Side.of(target - position)
    age = None if state["target_set_ts"] is None else NOW - state["target_set_ts"]
    crossing = must_cross(prm.urgency, age, target - position)
    event(f"crossing={crossing}, places={[p.time_in_force for p in placed]}, reprices={len(reprices)}")

    # THE invariant: position + live same-side remaining (cancels still count) + Places never passes the target
    same_side = [o for o in live.values() if o.side is want]
    before = position + working_quantity(same_side)
    after = before + sum((p.size * p.side.sign for p in placed), D(0))
    if (target - before) * want.sign >= 0:
        assert (target - after) * want.sign >= 0
    else:
        assert placed == []

    # IOC only in cross mode, GTC only outside it
    assert all(p.time_in_force == ("IOC" if crossing else "GTC") for p in placed)
    if crossing and bk is not None:
        assert reprices == []
        for o in same_side:
            if o.status is S.OPEN:
                assert o.client_order_id in cancels
                assert cancels[o.client_order_id].startswith("escalate") or \
                    cancels[o.client_order_id] == "exceeds remaining difference"

    other = bk.touch(want.opposite) if bk is not None else None
    for p in placed:
        assert p.side is want
        assert not any(o.side is not want for o in live.values())  # no self-trade
        assert p.price % tick == 0
        assert p.size > 0 and p.size % instrument.lot_size == 0
        assert instrument.min_size <= p.size <= prm.max_order_size
        assert instrument.notional(p.size, p.price) >= instrument.min_notional
        if p.time_in_force == "GTC":
            assert other is None or (other - p.price) * want.sign > 0  # never at or through the far touch
            assert len(same_side) < prm.max_working_orders
            quote = quote_price(want, bk, instrument, prm,
                                escalation_ticks(prm.urgency, age) - state["back_off_ticks"])
            assert p.price in {quote - want.sign * tick * i for i in range(prm.layers)}
            if prm.depth_fraction is not None:
                shown = bk.size_at(want, p.price) or bk.size_at(want, bk.touch(want))
                assert p.size <= max(instrument.min_size, shown * D(repr(prm.depth_fraction)))
        else:
            band = prm.urgency.cross_band_bps / 10_000
            assert other is not None
            if want is Side.BUY:
                assert other <= p.price <= other * (1 + band)
            else:
                assert other * (1 - band) <= p.price <= other

    for r in reprices:
        o = live[r.client_order_id]
        assert o.side is want
        assert NOW - o.created_ts >= prm.min_order_lifetime_s
        assert r.price % tick == 0
        assert other is None or (other - r.price) * want.sign > 0


@settings(max_examples=150, deadline=None)
@given(states())
def test_own_orders_removed_book_keeps_the_invariants(state) -> None:
    """The engine plans on ``without_own_orders(book)``; the overshoot and passivity properties hold there too."""
    if state["book"] is not None:
        state["book"] = without_own_orders(state["book"], state["orders"])
    actions = plan(**state)
    diff = state["target"] - state["position"]
    if diff == 0:
        assert places(actions) == []
        return
    want = Side.of(diff)
    live_same = [o for o in state["orders"] if o.status.is_live and o.side is want]
    before = state["position"] + working_quantity(live_same)
    after = before + sum((p.size * p.side.sign for p in places(actions)), D(0))
    if (state["target"] - before) * want.sign >= 0:
        assert (state["target"] - after) * want.sign >= 0
    other = state["book"].touch(want.opposite) if state["book"] is not None else None
    for p in places(actions):
        if p.time_in_force == "GTC":
            assert other is None or (other - p.price) * want.sign > 0


# -- removing our own orders from the book --------------------------------------------------------

def test_without_own_orders_hand_case() -> None:
    bk = book(bids=(("100", "3"), ("99.5", "2"), ("99", "1")), asks=(("101", "2"), ("101.5", "4")))
    orders = [
        order("a", Side.BUY, "100", "1", S.OPEN, filled="0.5"),  # 0.5 remaining off the 100 bid
        order("b", Side.BUY, "100", "1", S.CANCEL_PENDING),  # and 1 more
        order("c", Side.SELL, "101", "2", S.PENDING),  # empties the 101 ask
        order("d", Side.BUY, "99.5", "2", S.CANCELLED),  # terminal: ignored
        order("e", Side.BUY, "99", "1", S.FILLED),  # terminal: ignored
        order("f", Side.SELL, "99.5", "1", S.OPEN),  # a sell at a bid price: not on the bid side
        order("g", Side.BUY, "98", "1", S.OPEN),  # no level there
    ]
    assert without_own_orders(bk, orders) == book(bids=(("100", "1.5"), ("99.5", "2"), ("99", "1")),
                                                  asks=(("101.5", "4"),))


def test_without_own_orders_drops_a_level_we_more_than_fill() -> None:
    bk = book(bids=(("100", "1"), ("99.5", "2")))
    assert without_own_orders(bk, [order("a", Side.BUY, "100", "1.5", S.OPEN)]).bids == book(bids=(("99.5", "2"),)).bids


def test_without_own_orders_then_plan_does_not_join_ourselves() -> None:
    """Alone at the bid, our order is not the touch: the next order joins the real market below it."""
    bk = book(bids=(("100", "1"), ("99.5", "2")), asks=(("101", "2"),))
    ours = order("a", Side.BUY, "100", "1", S.OPEN, created_ts=NOW)
    clean = without_own_orders(bk, [ours])
    assert clean.best_bid == D("99.5")
    assert run("5", orders=[ours], bk=clean, prm=params(layers=2)) == [
        Place(Side.BUY, D("99.5"), D("2"), "work difference 5")]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_without_own_orders_property(data) -> None:
    tick = D("0.5")
    bk = data.draw(books(tick))
    if bk is None:
        return
    near = bk.best_bid or bk.best_ask or D(100)
    orders = data.draw(working_orders(tick, D("0.01"), near))
    clean = without_own_orders(bk, orders)
    assert (clean.symbol, clean.ts) == (bk.symbol, bk.ts)
    for side, before, after in ((Side.BUY, bk.bids, clean.bids), (Side.SELL, bk.asks, clean.asks)):
        expected = []
        for lv in before:
            own = sum((o.remaining for o in orders
                       if o.status.is_live and o.side is side and o.price == lv.price), D(0))
            if lv.size - own > 0:
                expected.append(Level(lv.price, lv.size - own))
        assert list(after) == expected  # same order, emptied levels dropped, others untouched
        assert all(lv.size > 0 for lv in after)
