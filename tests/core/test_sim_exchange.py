"""The synchronous simulated exchange: post-only, matching through the fill model, persistence."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bot.core.types import OrderStatus, Side
from bot.venues.base import OrderNotFound, OrderRejected, OrderRequest
from bot.venues.simulated.exchange import SimulatedExchange

from .support import book, spec, trade

D = Decimal
SYMBOL = "BTC-PERP"
BOOK = book(bids=(("100", "3"), ("99.5", "5")), asks=(("101", "2"), ("101.5", "4")))


def exchange() -> SimulatedExchange:
    return SimulatedExchange({SYMBOL: spec(maker_fee_bps=D("-1"))})


def place(ex: SimulatedExchange, cid: str = "o1", side: Side = Side.BUY, price: str = "100", size: str = "1"):
    return ex.place(OrderRequest(SYMBOL, cid, side, D(price), D(size)), BOOK, ts=1.0)


@pytest.mark.parametrize("side, price", [(Side.BUY, "101"), (Side.BUY, "102"), (Side.SELL, "100"), (Side.SELL, "99")])
def test_post_only_order_that_would_cross_is_rejected(side: Side, price: str) -> None:
    ex = exchange()
    with pytest.raises(OrderRejected):
        place(ex, side=side, price=price)
    assert ex.open_orders() == []


@pytest.mark.parametrize("side, price", [(Side.BUY, "100.5"), (Side.BUY, "100"), (Side.SELL, "100.5"),
                                         (Side.SELL, "101")])
def test_passive_order_rests(side: Side, price: str) -> None:
    ex = exchange()
    update = place(ex, side=side, price=price)
    assert update.status is OrderStatus.OPEN and update.venue_order_id
    assert [o.client_order_id for o in ex.open_orders(SYMBOL)] == ["o1"]


@pytest.mark.parametrize("first_done", [False, True])
def test_duplicate_client_order_id_is_rejected(first_done: bool) -> None:
    ex = exchange()
    place(ex)
    if first_done:
        ex.cancel("o1", ts=2.0)
    with pytest.raises(OrderRejected):
        place(ex, price="99.5")


def test_fills_only_on_trades_and_queue_ahead_goes_first() -> None:
    ex = exchange()
    place(ex, size="1")  # 3 contracts ahead at 100
    assert ex.on_market(BOOK, []) == []
    assert ex.on_market(BOOK, [trade("100", "3", Side.SELL)]) == []  # touched, queue ahead only
    assert ex.positions[SYMBOL] == 0
    [update] = ex.on_market(BOOK, [trade("100", "0.4", Side.SELL, "t2", ts=5.0)])
    assert (update.status, update.filled, update.fill.size) == (OrderStatus.OPEN, D("0.4"), D("0.4"))
    assert update.fill.ts == 5.0
    assert update.fill.fee == D("-0.004") and update.fill.liquidity == "maker"  # 0.4 × 100 × -1 bp
    assert ex.positions[SYMBOL] == D("0.4") and ex.order("o1").filled == D("0.4")


def test_full_fill_moves_position_and_leaves_open_orders() -> None:
    ex = exchange()
    place(ex, side=Side.SELL, price="101", size="1.5")
    updates = ex.on_market(BOOK, [trade("101.5", "1", Side.BUY, "t1"), trade("101.5", "1", Side.BUY, "t2")])
    assert [(u.status, u.filled, u.fill.size) for u in updates] == [
        (OrderStatus.OPEN, D("1"), D("1")), (OrderStatus.FILLED, D("1.5"), D("0.5"))]
    assert ex.positions[SYMBOL] == D("-1.5")
    assert ex.open_orders() == [] and ex.order("o1").status is OrderStatus.FILLED
    assert [f.trade_id for f in ex.fills] == ["o1-f1", "o1-f2"]


def test_cancel_reports_cancelled_then_already_done() -> None:
    ex = exchange()
    place(ex)
    assert ex.cancel("o1", ts=2.0).status is OrderStatus.CANCELLED
    again = ex.cancel("o1", ts=3.0)
    assert (again.status, again.reason) == (OrderStatus.CANCELLED, "already done")
    assert ex.open_orders() == []


def test_cancel_of_a_filled_order_reports_filled() -> None:
    ex = exchange()
    place(ex)
    ex.on_market(BOOK, [trade("99.5", "5", Side.SELL)])  # through our bid
    update = ex.cancel("o1", ts=2.0)
    assert (update.status, update.filled, update.reason) == (OrderStatus.FILLED, D("1"), "already done")


def test_cancel_of_an_unknown_order_raises() -> None:
    with pytest.raises(OrderNotFound):
        exchange().cancel("nope", ts=1.0)


def test_amend_rejects_a_crossing_price_and_resets_the_queue() -> None:
    ex = exchange()
    place(ex, price="99.5")  # 5 ahead
    with pytest.raises(OrderRejected):
        ex.amend("o1", D("101"), BOOK, ts=2.0)
    assert ex.amend("o1", D("100.5"), BOOK, ts=2.0).status is OrderStatus.OPEN  # new level: nobody ahead
    [update] = ex.on_market(BOOK, [trade("100.5", "1", Side.SELL)])
    assert update.status is OrderStatus.FILLED


def test_displayed_size_shrink_shortens_queue_ahead() -> None:
    ex = exchange()
    place(ex)  # 3 ahead
    thin = book(bids=(("100", "0.5"),), asks=(("101", "2"),))
    ex.on_market(thin, [])
    [update] = ex.on_market(thin, [trade("100", "1", Side.SELL)])
    assert update.filled == D("0.5")


def test_to_dict_load_round_trip_preserves_the_account() -> None:
    ex = exchange()
    place(ex, "a", size="2")  # 3 ahead
    place(ex, "b", Side.SELL, "101.5", "1")
    place(ex, "c", price="99.5")
    ex.on_market(BOOK, [trade("99.5", "0.5", Side.SELL)])  # partial fill of a (through) and c (touch, queue 5)
    ex.cancel("c", ts=2.0)

    restored = exchange()
    restored.load(json.loads(json.dumps(ex.to_dict())))

    assert restored.open_orders() == ex.open_orders()
    assert restored.positions == ex.positions == {SYMBOL: D("0.5")}
    assert restored.fills == ex.fills
    assert restored.order("c") == ex.order("c")
    # the queue place survives too: the same prints fill both the same way
    prints = [trade("100", "3.5", Side.SELL, "t9"), trade("101.5", "0.2", Side.BUY, "t10")]
    assert restored.on_market(BOOK, prints) == ex.on_market(BOOK, prints)
    # and venue ids keep counting up instead of repeating
    assert place(restored, "d", price="99").venue_order_id == place(ex, "d", price="99").venue_order_id == "sim-4"
