"""The planner: never overshoots the target, never self-trades, passive prices, whole lots."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.planner import Cancel, ExecutionParams, Place, Reprice, plan, working_quantity
from bot.core.rounding import passive_price
from bot.core.types import Book, InstrumentSpec, Level, Order, OrderStatus, Side

from .support import book, order, spec

D = Decimal
S = OrderStatus
NOW = 1000.0
PARAMS = ExecutionParams(max_order_size=D("2"), reprice_tolerance_ticks=1, min_order_lifetime_s=1.0,
                         max_working_orders=2)


def run(target: str, position: str = "0", orders=(), bk: Book | None = None, params: ExecutionParams = PARAMS,
        instrument: InstrumentSpec | None = None) -> list:
    return plan(target=D(target), position=D(position), orders=list(orders), book=book() if bk is None else bk,
                spec=instrument or spec(), params=params, now=NOW)


# -- hand cases (book: bid 100, ask 101, tick 0.5, lot 0.001) ---------------------------------------

@pytest.mark.parametrize(
    "target, position, expected",
    [
        ("1.5", "0", Place(Side.BUY, D("100"), D("1.5"), "work difference 1.5")),
        ("5", "0", Place(Side.BUY, D("100"), D("2"), "work difference 5")),  # max_order_size
        ("-0.7", "0.3", Place(Side.SELL, D("101"), D("1.000"), "work difference -1.0")),
        ("1.0009", "0", Place(Side.BUY, D("100"), D("1.000"), "work difference 1.0009")),  # lot truncation
    ],
)
def test_empty_book_of_orders_places_one_passive_order(target: str, position: str, expected: Place) -> None:
    assert run(target, position) == [expected]


def test_places_only_the_difference_not_covered_by_working_orders() -> None:
    working = order("a", Side.BUY, "100", "1.2", S.PENDING, created_ts=NOW)
    assert run("2", orders=[working]) == [Place(Side.BUY, D("100"), D("0.8"), "work difference 2")]


@pytest.mark.parametrize("status", [S.PENDING, S.CANCEL_PENDING])
def test_nothing_placed_while_an_opposite_order_is_unconfirmed(status: OrderStatus) -> None:
    assert run("1", orders=[order("s", Side.SELL, "101", "1", status)]) == []


def test_opposite_open_order_is_cancelled_and_not_replaced_yet() -> None:
    assert run("1", orders=[order("s", Side.SELL, "101", "1", S.OPEN)]) == [Cancel("s", "wrong side")]


def test_target_reached_cancels_every_open_order_only() -> None:
    orders = [order("b", Side.BUY, status=S.OPEN), order("s", Side.SELL, "101", status=S.OPEN),
              order("p", Side.BUY, status=S.PENDING), order("c", Side.SELL, "101", status=S.CANCEL_PENDING)]
    assert run("3", "3", orders) == [Cancel("b", "target reached"), Cancel("s", "target reached")]


def test_excess_open_order_cancelled_and_no_replacement_until_confirmed() -> None:
    big = order("big", Side.BUY, "100", "3", S.OPEN)
    assert run("1", orders=[big]) == [Cancel("big", "exceeds remaining difference")]


@pytest.mark.parametrize(
    "price, created_ts, expected",
    [
        ("99", NOW - 5, [Reprice("o1", D("100"), "touch moved to 100.0")]),  # 2 ticks away, old enough
        ("99.5", NOW - 5, []),  # within 1 tick tolerance
        ("99", NOW - 0.5, []),  # too young to move
    ],
)
def test_reprice_rules(price: str, created_ts: float, expected: list) -> None:
    resting = order("o1", Side.BUY, price, "1", S.OPEN, created_ts=created_ts)
    assert run("1", orders=[resting]) == expected


@pytest.mark.parametrize(
    "instrument, target",
    [
        (spec(min_size=D("0.01")), "0.009"),  # below min size
        (spec(min_notional=D("100")), "0.999"),  # 0.999 × 100 < 100 USD
        (spec(lot_size=D("1"), min_size=D("1")), "0.9"),  # less than one lot
    ],
)
def test_too_small_orders_are_not_placed(instrument: InstrumentSpec, target: str) -> None:
    assert run(target, instrument=instrument) == []


def test_no_touch_no_place() -> None:
    assert run("1", bk=book(bids=())) == []


def test_max_working_orders_blocks_a_third_order() -> None:
    orders = [order(c, Side.BUY, "100", "0.1", S.OPEN, created_ts=NOW) for c in ("a", "b")]
    assert run("5", orders=orders) == []


# -- the invariants over random states ----------------------------------------------------------

@st.composite
def instruments(draw) -> InstrumentSpec:
    tick = draw(st.sampled_from([D("0.01"), D("0.5"), D("1")]))
    lot = draw(st.sampled_from([D("0.001"), D("0.01"), D("1")]))
    inverse = draw(st.booleans())
    return spec(tick_size=tick, lot_size=lot, min_size=lot * draw(st.integers(1, 5)), inverse=inverse,
                contract_size=D("100") if inverse else draw(st.sampled_from([D("1"), D("0.01")])),
                min_notional=draw(st.sampled_from([D(0), D("0.001"), D("10")] if inverse else [D(0), D(10), D(1000)])))


@st.composite
def books(draw, tick: Decimal) -> Book | None:
    if draw(st.integers(0, 9)) == 0:
        return None
    bid = passive_price(Side.BUY, D(draw(st.integers(5000, 15000))) / 100, tick)
    ask = bid + tick * draw(st.integers(1, 4))
    bids = () if draw(st.integers(0, 9)) == 0 else (Level(bid, D(1)), Level(bid - tick, D(2)))
    asks = () if draw(st.integers(0, 9)) == 0 else (Level(ask, D(1)), Level(ask + tick, D(2)))
    return Book("BTC-PERP", bids, asks, NOW)


@st.composite
def working_orders(draw, tick: Decimal, lot: Decimal, near: Decimal) -> list[Order]:
    out = []
    for i in range(draw(st.integers(0, 5))):
        size = lot * draw(st.integers(1, 3000))
        status = draw(st.sampled_from([S.PENDING, S.OPEN, S.OPEN, S.CANCEL_PENDING, S.FILLED, S.CANCELLED]))
        out.append(order(f"o{i}", draw(st.sampled_from(list(Side))), str(near + tick * draw(st.integers(-4, 4))),
                         str(size), status, created_ts=NOW - draw(st.sampled_from([0.0, 0.5, 1.0, 5.0])),
                         filled=str(lot * draw(st.integers(0, int(size / lot) - 1)))))
    return out


@st.composite
def states(draw):
    instrument = draw(instruments())
    bk = draw(books(instrument.tick_size))
    near = (bk.best_bid or bk.best_ask or D(100)) if bk else D(100)
    orders = draw(working_orders(instrument.tick_size, instrument.lot_size, near))
    amount = st.integers(-20000, 20000).map(lambda n: D(n) / 1000)
    params = ExecutionParams(max_order_size=draw(st.sampled_from([D("0.001"), D("0.5"), D("3"), D("100")])),
                             reprice_tolerance_ticks=draw(st.integers(0, 3)),
                             min_order_lifetime_s=draw(st.sampled_from([0.0, 1.0, 3.0])),
                             max_working_orders=draw(st.integers(1, 3)))
    position = draw(amount)
    target = draw(st.one_of(amount, st.just(position)))
    return dict(target=target, position=position, orders=orders, book=bk, spec=instrument, params=params, now=NOW)


@settings(max_examples=600, deadline=None)
@given(states())
def test_plan_invariants(state) -> None:
    actions = plan(**state)
    target, position, instrument, params, bk = (state[k] for k in ("target", "position", "spec", "params", "book"))
    live = {o.client_order_id: o for o in state["orders"] if o.status.is_live}
    places = [a for a in actions if isinstance(a, Place)]
    cancels = [a.client_order_id for a in actions if isinstance(a, Cancel)]
    reprices = [a for a in actions if isinstance(a, Reprice)]

    # cancels and reprices name distinct live OPEN orders; nothing is both cancelled and repriced
    touched = cancels + [r.client_order_id for r in reprices]
    assert len(touched) == len(set(touched))
    assert all(c in live and live[c].status is S.OPEN for c in touched)
    assert len(places) <= 1

    if target == position:
        assert places == [] and reprices == []
        assert set(cancels) == {c for c, o in live.items() if o.status is S.OPEN}
        return

    want = Side.of(target - position)
    # every open order on the wrong side is cancelled
    assert {c for c, o in live.items() if o.side is not want and o.status is S.OPEN} <= set(cancels)

    # the key invariant: position + live working toward the target (cancels still count) never passes it
    same_side = [o for o in live.values() if o.side is want]
    before = position + working_quantity(same_side)
    after = before + sum((p.size * p.side.sign for p in places), D(0))
    if (target - before) * want.sign >= 0:
        assert (target - after) * want.sign >= 0
    else:
        assert places == []

    touch = bk.touch(want) if bk is not None else None
    for p in places:
        assert p.side is want
        assert not any(o.side is not want for o in live.values())  # no self-trade
        assert len(same_side) + 1 <= params.max_working_orders
        assert p.price == passive_price(want, touch, instrument.tick_size) and p.price % instrument.tick_size == 0
        other = bk.touch(want.opposite)
        assert other is None or (other - p.price) * want.sign > 0  # strictly passive
        assert p.size > 0 and p.size % instrument.lot_size == 0
        assert instrument.min_size <= p.size <= params.max_order_size
        assert instrument.notional(p.size, p.price) >= instrument.min_notional

    for r in reprices:
        o = live[r.client_order_id]
        assert o.side is want
        assert NOW - o.created_ts >= params.min_order_lifetime_s
        assert abs(o.price - r.price) > instrument.tick_size * params.reprice_tolerance_ticks
        assert r.price == passive_price(want, touch, instrument.tick_size)


@settings(max_examples=200, deadline=None)
@given(states())
def test_a_place_is_made_when_nothing_blocks_it(state) -> None:
    """Liveness: no live orders, a touch, and a lot-sized difference that passes the minimums → a Place."""
    state["orders"] = []
    diff = state["target"] - state["position"]
    bk, instrument = state["book"], state["spec"]
    if diff == 0 or bk is None or bk.touch(Side.of(diff)) is None:
        return
    size = min(abs(diff), state["params"].max_order_size) // instrument.lot_size * instrument.lot_size
    price = passive_price(Side.of(diff), bk.touch(Side.of(diff)), instrument.tick_size)
    expected = size >= instrument.min_size and size > 0 and instrument.notional(size, price) >= instrument.min_notional
    assert [a.size for a in plan(**state)] == ([size] if expected else [])
