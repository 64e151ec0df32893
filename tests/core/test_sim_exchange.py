"""The synchronous simulated exchange: post-only, matching through the fill model, persistence."""

from __future__ import annotations

import asyncio
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


# -- IOC taking, shared prints, crossing books, the probabilistic queue, latency ---------------

from bot.core.fill_model import QueueModel  # noqa: E402
from bot.venues.base import PostOnlyRejected  # noqa: E402
from bot.venues.simulated.exchange import BOOK_CROSS  # noqa: E402


def ioc(ex: SimulatedExchange, side: Side, price: str, size: str, cid: str = "x1", book_=BOOK, ts: float = 1.0):
    return ex.place(OrderRequest(SYMBOL, cid, side, D(price), D(size), post_only=False, time_in_force="IOC"), book_, ts)


def test_ioc_walks_the_book_pays_taker_fees_and_cancels_the_rest() -> None:
    ex = exchange()  # taker 5 bp
    ack = ioc(ex, Side.BUY, "101.5", "7")
    assert (ack.status, ack.filled) == (OrderStatus.OPEN, 0)  # the answer; fills follow as updates
    updates = ex.take_updates()
    assert [(u.status, u.filled) for u in updates] == [
        (OrderStatus.OPEN, D("2")), (OrderStatus.OPEN, D("6")), (OrderStatus.CANCELLED, D("6"))]
    fills = [u.fill for u in updates if u.fill]
    assert [(f.price, f.size, f.liquidity) for f in fills] == [(D("101"), D("2"), "taker"), (D("101.5"), D("4"), "taker")]
    assert fills[0].fee == D("2") * D("101") * D("5") / D("10000")
    assert ex.positions[SYMBOL] == D("6") and ex.open_orders() == []
    assert ex.order("x1").status is OrderStatus.CANCELLED
    assert ex.fill_causes[fills[1].trade_id].price == D("101.5")
    assert ex.take_updates() == []


def test_ioc_filled_in_full_ends_filled_and_never_rests() -> None:
    ex = exchange()
    ioc(ex, Side.SELL, "99", "4")
    updates = ex.take_updates()
    assert updates[-1].status is OrderStatus.FILLED and updates[-1].filled == 4
    assert [u.fill.price for u in updates] == [D("100"), D("99.5")]
    assert ex.positions[SYMBOL] == D("-4") and ex.open_orders() == []


def test_post_only_rejection_is_the_post_only_error() -> None:
    with pytest.raises(PostOnlyRejected):
        place(exchange(), side=Side.BUY, price="101")


def test_two_of_our_orders_at_one_price_never_fill_twice_from_one_print() -> None:
    ex = exchange()
    place(ex, "a", size="1")  # 3 others ahead
    place(ex, "b", size="1")  # 3 others ahead, and a
    updates = ex.on_market(BOOK, [trade("100", "4.5", Side.SELL)])
    assert [(u.client_order_id, u.fill.size) for u in updates] == [("a", D("1")), ("b", D("0.5"))]
    assert ex.positions[SYMBOL] == D("1.5")  # the print was 4.5: 3 others + 1.5 of ours


def test_better_priced_order_of_ours_takes_a_print_first() -> None:
    ex = exchange()
    place(ex, "low", price="99.5", size="1")
    place(ex, "high", price="100.5", size="1")  # inside the spread: nobody ahead
    updates = ex.on_market(BOOK, [trade("99", "1.2", Side.SELL)])  # through both prices
    assert [(u.client_order_id, u.fill.size) for u in updates] == [("high", D("1")), ("low", D("0.2"))]


def test_a_book_that_crosses_our_order_fills_it_at_our_price_once() -> None:
    ex = exchange()
    place(ex, price="100.5", size="2")
    crossed = book(bids=(("100", "3"),), asks=(("100.5", "0.5"), ("101", "2")))
    [update] = ex.on_market(crossed, [])
    assert (update.fill.price, update.fill.size, update.fill.liquidity) == (D("100.5"), D("0.5"), "maker")
    assert ex.fill_causes[update.fill.trade_id].trade_id == BOOK_CROSS
    assert ex.on_market(crossed, []) == []  # the same recorded ask is not ours to take twice


def test_probabilistic_queue_moves_up_on_cancels_where_the_conservative_one_does_not() -> None:
    deep = book(bids=(("100", "10"),), asks=(("101", "2"),))
    results = {}
    for model in ("conservative", "power"):
        ex = SimulatedExchange({SYMBOL: spec()}, queue_model=QueueModel(model))
        ex.place(OrderRequest(SYMBOL, "o", Side.BUY, D("100"), D("1")), book(bids=(("100", "4"),)), ts=1.0)
        ex.on_market(deep, [])  # 6 joined behind
        ex.on_market(book(bids=(("100", "5"),), asks=(("101", "2"),)), [])  # 5 cancelled
        results[model] = ex.queue_ahead("o")
    assert results["conservative"] == 4
    assert results["power"] == D("2.462")  # see test_fill_model


def latent(**kw) -> SimulatedExchange:
    return SimulatedExchange({SYMBOL: spec()}, entry_latency_s=0.05, cancel_latency_s=0.02, **kw)


def test_with_entry_latency_an_order_joins_the_queue_on_arrival() -> None:
    ex = latent()
    update = ex.place(OrderRequest(SYMBOL, "o", Side.BUY, D("100"), D("1")), BOOK, ts=10.0)
    assert (update.status, update.reason) == (OrderStatus.PENDING, "sent")
    assert ex.next_due() == pytest.approx(10.05)
    early = book(bids=(("100", "1"),), ts=10.01)
    assert ex.on_market(early, [trade("99", "5", Side.SELL, ts=10.01)]) == []  # not there yet
    assert ex.positions[SYMBOL] == 0
    [ack] = ex.advance(10.05)
    assert (ack.status, ack.reason, ack.ts) == (OrderStatus.OPEN, "accepted", pytest.approx(10.05))
    assert ex.queue_ahead("o") == 1  # the book at arrival, not the one it was sent on


def test_a_post_only_order_that_would_cross_on_arrival_is_rejected_then() -> None:
    ex = latent()
    ex.place(OrderRequest(SYMBOL, "o", Side.BUY, D("100.5"), D("1")), BOOK, ts=10.0)
    ex.on_market(book(bids=(("100", "1"),), asks=(("100.5", "1"),), ts=10.02), [])
    [update] = ex.advance(10.05)
    assert update.status is OrderStatus.REJECTED and "would cross" in update.reason
    assert ex.order("o").status is OrderStatus.REJECTED


def test_with_cancel_latency_an_order_can_still_fill() -> None:
    ex = latent()
    ex.place(OrderRequest(SYMBOL, "o", Side.BUY, D("100"), D("1")), BOOK, ts=10.0)
    ex.advance(10.05)
    pending = ex.cancel("o", ts=10.10)
    assert pending.status is OrderStatus.CANCEL_PENDING
    [fill] = ex.on_market(book(ts=10.11), [trade("99.5", "0.4", Side.SELL, ts=10.11)])
    assert fill.fill.size == D("0.4")
    [done] = ex.advance(10.12)
    assert (done.status, done.filled) == (OrderStatus.CANCELLED, D("0.4"))


def test_an_order_cancelled_before_it_arrives_never_rests() -> None:
    ex = SimulatedExchange({SYMBOL: spec()}, entry_latency_s=0.05)
    ex.place(OrderRequest(SYMBOL, "o", Side.BUY, D("100"), D("1")), BOOK, ts=10.0)
    assert ex.cancel("o", ts=10.01).status is OrderStatus.CANCEL_PENDING
    [done] = ex.advance(10.05)
    assert done.status is OrderStatus.CANCELLED and ex.open_orders() == []


def test_an_amend_takes_effect_on_arrival() -> None:
    ex = latent()
    ex.place(OrderRequest(SYMBOL, "o", Side.BUY, D("100"), D("1")), BOOK, ts=10.0)
    ex.advance(10.05)
    assert ex.amend("o", D("99.5"), BOOK, ts=10.1).status is OrderStatus.OPEN
    later = book(bids=(("100", "3"), ("99.5", "5")), ts=10.12)
    [fill] = ex.on_market(later, [trade("99.5", "0.3", Side.SELL, ts=10.12)])  # still at 100: through
    assert fill.fill.price == D("100")
    ex.advance(10.15)
    assert ex.order("o").price == D("99.5") and ex.queue_ahead("o") == 5


def test_in_flight_actions_survive_a_round_trip() -> None:
    ex = latent()
    ex.place(OrderRequest(SYMBOL, "o", Side.BUY, D("100"), D("1")), BOOK, ts=10.0)
    ex.place(OrderRequest(SYMBOL, "p", Side.BUY, D("99.5"), D("1")), BOOK, ts=10.01)
    ex.cancel("p", ts=10.02)
    restored = latent()
    restored.load(json.loads(json.dumps(ex.to_dict())))
    assert restored.next_due() == ex.next_due() == pytest.approx(10.04)  # p's cancel arrives first
    now = book(bids=(("100", "2"), ("99.5", "5")), ts=10.03)
    assert restored.on_market(now, []) == ex.on_market(now, []) == []
    arrivals = ex.advance(10.1)
    assert restored.advance(10.1) == arrivals
    assert [(u.client_order_id, u.status) for u in arrivals] == [("o", OrderStatus.OPEN), ("p", OrderStatus.CANCELLED)]
    assert restored.queue_ahead("o") == ex.queue_ahead("o") == 2


async def test_the_simulated_venue_streams_an_iocs_fills() -> None:
    from bot.venues.simulated.market import MarketParams
    from bot.venues.simulated.venue import SimInstrument, SimulatedVenue

    venue = SimulatedVenue([SimInstrument(spec(symbol=SYMBOL), MarketParams(price=100.0, tick=D("0.5"), lot=D("0.001")))],
                           seed=3, clock=lambda: 1000.0)
    await venue.connect([SYMBOL])
    try:
        book_ = await venue.fetch_book(SYMBOL)
        ack = await venue.place_order(OrderRequest(SYMBOL, "x", Side.BUY, book_.asks[1].price, D("0.5"),
                                                   post_only=False, time_in_force="IOC"))
        assert ack.status is OrderStatus.OPEN
        streamed = []
        while not venue._queue.empty():
            event = venue._queue.get_nowait()
            if getattr(event, "client_order_id", None) == "x":
                streamed.append(event)
        assert streamed and streamed[-1].status in (OrderStatus.FILLED, OrderStatus.CANCELLED)
        assert sum(u.fill.size for u in streamed if u.fill) == await venue.fetch_position(SYMBOL) > 0
    finally:
        await venue.close()


def test_our_iocs_do_not_take_the_same_displayed_size_twice() -> None:
    ex = exchange()
    ioc(ex, Side.BUY, "101", "1.5", "x1")
    ioc(ex, Side.BUY, "101", "1.5", "x2")  # only 0.5 left at 101 on this book
    fills = [u.fill for u in ex.take_updates() if u.fill]
    assert [(f.client_order_id, f.size) for f in fills] == [("x1", D("1.5")), ("x2", D("0.5"))]
    ex.on_market(book(bids=(("100", "3"),), asks=(("101", "2"),)), [])  # the next book shows it all again
    ioc(ex, Side.BUY, "101", "1.5", "x3")
    assert [u.fill.size for u in ex.take_updates() if u.fill] == [D("1.5")]


class _SlowSimStore:
    """A :class:`~bot.venues.simulated.venue.SimStateStore` whose saves take a few turns of the
    event loop, as a Redis round trip does; ``saved`` is the account as last stored."""

    def __init__(self) -> None:
        self.saved: dict | None = None

    async def load_sim_state(self, symbol: str) -> dict | None:
        return self.saved

    async def save_sim_state(self, symbol: str, state: dict) -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        self.saved = json.loads(json.dumps(state))


async def test_the_simulated_venue_tells_of_a_fill_only_once_it_is_saved() -> None:
    """Whoever hears of a fill (its streamed update, a read of fills or position) while a save is
    under way must find it in the saved account: else a kill before the save ends restarts an
    account without a fill the journal has, and the venue fills that order again."""
    from bot.venues.simulated.market import MarketParams
    from bot.venues.simulated.venue import SimInstrument, SimulatedVenue

    store = _SlowSimStore()
    venue = SimulatedVenue([SimInstrument(spec(symbol=SYMBOL), MarketParams(price=100.0, tick=D("0.5"), lot=D("0.001")))],
                           seed=3, store=store, clock=lambda: 1000.0)
    await venue.activate(SYMBOL)  # no stepping task: the test steps the market
    bid = (await venue.fetch_book(SYMBOL)).bids[0].price
    for cid in ("a", "b"):
        await venue.place_order(OrderRequest(SYMBOL, cid, Side.BUY, bid, D("0.1")))

    def saved_fill_ids() -> set[str]:
        return {f["trade_id"] for f in store.saved["exchange"]["fills"]}

    updates: list[str] = []
    unsaved: list[str] = []  # what was heard of before it was saved

    async def listen() -> None:
        async for event in venue.events():
            if getattr(event, "fill", None) is not None:
                updates.append(event.fill.trade_id)
                if event.fill.trade_id not in saved_fill_ids():
                    unsaved.append(f"update {event.fill.trade_id}")

    async def read() -> None:
        while True:
            ids = {f.trade_id for f in await venue.fetch_fills(SYMBOL, 0.0)}
            if not ids <= saved_fill_ids():
                unsaved.append(f"fetch_fills {sorted(ids - saved_fill_ids())}")
            position = await venue.fetch_position(SYMBOL)
            if position != Decimal(store.saved["exchange"]["positions"][SYMBOL]):
                unsaved.append(f"fetch_position {position}")
            await asyncio.sleep(0)

    readers = [asyncio.create_task(listen()), asyncio.create_task(read())]
    try:
        for _ in range(20_000):
            if len(updates) >= 2:
                break
            await venue.step()
    finally:
        for task in readers:
            task.cancel()
    assert len(updates) >= 2, "the market never filled our orders"
    assert not unsaved, f"told of fills not yet saved: {unsaved}"
