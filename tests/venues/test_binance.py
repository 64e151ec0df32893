"""The ccxt adapter against a local Binance USDⓈ-M server (REST, market websocket streams and the
user-data stream) with ccxt's own binanceusdm client code, and Binance's URL-prefix error mapping
checked with the real URL through ccxt's error handler."""

from __future__ import annotations

import asyncio
import functools
import time
from decimal import Decimal
from pathlib import Path
from typing import AsyncIterator

import ccxt
import pytest
from bot.throttle import OrderBudget
from structlog.testing import capture_logs

from bot.core.planner import ExecutionParams, Urgency
from bot.core.policies.target_schedule import Params as Schedule, ScheduleStep
from bot.core.risk import RiskLimits
from bot.core.types import Book, OrderStatus, OrderUpdate, Side, Trade
from bot.engine import InstrumentEngine
from bot.state.memory import MemoryStore
from bot.venues.base import OrderRejected, OrderRequest, PostOnlyRejected, VenueError
from bot.venues.ccxt import normalise
from bot.venues.ccxt.config import CcxtVenueConfig
from bot.venues.ccxt.errors import Action, classify, is_post_only_reject
from bot.venues.ccxt.venue import CcxtVenue
from tests.venues.conftest import (
    CREDENTIALS, FAST, assert_ended_unfilled, eventually, ioc_request, next_event, order_events,
)
from tests.venues.servers.binance import BinanceServer

SYM = "BTCUSDT"


@pytest.fixture
async def binance_server() -> AsyncIterator[BinanceServer]:
    server = BinanceServer()
    await server.start()
    yield server
    await server.stop()


def binance_config(server: BinanceServer, tmp_path: Path, **overrides) -> CcxtVenueConfig:
    return CcxtVenueConfig.model_validate({
        "exchange": "binanceusdm", "urls": {"rest": server.rest, "ws": server.ws},
        "markets_cache": str(tmp_path / "binance.json"), **FAST, "rate_limit_cooldown_ms": 300, **overrides})


def book_levels(book: Book) -> tuple[list, list]:
    return [(float(l.price), float(l.size)) for l in book.bids], [(float(l.price), float(l.size)) for l in book.asks]


@pytest.fixture
async def venue(binance_server, tmp_path) -> AsyncIterator[CcxtVenue]:
    v = CcxtVenue(binance_config(binance_server, tmp_path), CREDENTIALS)
    await v.connect([SYM])
    await next_event(v, Book)                       # the depth stream is synced: the book is fresh
    await eventually(lambda: binance_server.subscribed("btcusdt@depth", "btcusdt@trade")
                     and binance_server.user_sockets)
    yield v
    await v.close()


async def test_spec_from_exchange_info_and_rest_book(venue):
    spec = await venue.instrument(SYM)
    assert venue.md.precisionMode == ccxt.TICK_SIZE
    assert (spec.tick_size, spec.lot_size, spec.min_size, spec.min_notional, spec.contract_size) == (
        Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal(100), 1)
    assert not spec.inverse and spec.settle == "USDT"
    book = await venue.fetch_book(SYM, 2)
    assert (book.best_bid, book.best_ask) == (Decimal("60000.0"), Decimal("60000.1"))


# websocket streams --------------------------------------------------------------------------------
async def test_streams_book_diffs_trades_and_an_own_fill(binance_server, venue):
    # depth: ccxt took a REST snapshot (lastUpdateId) and chains the diff events on U/u/pu
    assert "GET /fapi/v1/depth" in binance_server.requests
    assert binance_server.subscribed("btcusdt@depth@100ms", "btcusdt@trade")
    await binance_server.book_change(bids=[(60000.0, 0), (59999.8, 0.7)], asks=[(60000.1, 2.5)])
    book = await next_event(venue, Book, lambda b: b.best_bid == Decimal("59999.9"))
    assert book_levels(book) == binance_server.book()
    await binance_server.book_change(asks=[(60000.0, 0.4)])
    book = await next_event(venue, Book, lambda b: b.best_ask == Decimal("60000.0"))
    assert book_levels(book) == binance_server.book()

    # a public trade (@trade: m = buyer is maker, so the aggressor sold)
    await binance_server.trade(59990.0, 0.25, "sell")
    trade = await next_event(venue, Trade)
    assert (trade.price, trade.size, trade.aggressor) == (Decimal("59990.0"), Decimal("0.25"), Side.SELL)

    # our order: NEW on the user-data stream, then a trade through its price fills it (maker)
    await venue.place_order(OrderRequest(SYM, "f1", Side.BUY, Decimal("59999.9"), Decimal("0.01")))
    new = await next_event(venue, OrderUpdate, lambda u: u.reason == "stream")
    assert (new.client_order_id, new.status, new.venue_order_id) == ("f1", OrderStatus.OPEN, "8001")
    await binance_server.trade(59999.9, 0.5, "sell")
    filled = await next_event(venue, OrderUpdate, lambda u: u.fill is not None)
    fill = filled.fill
    assert (filled.status, filled.filled) == (OrderStatus.FILLED, Decimal("0.01"))
    assert (fill.client_order_id, fill.side, fill.price, fill.size, fill.liquidity, fill.fee_currency) == (
        "f1", Side.BUY, Decimal("59999.9"), Decimal("0.01"), "maker", "USDT")
    assert fill.fee == Decimal("0.1199998")
    # ACCOUNT_UPDATE: the position and the balance stream
    await eventually(lambda: SYM in venue.positions and venue.positions[SYM].size == Decimal("0.01"))
    assert venue.positions[SYM].side == "long"
    await eventually(lambda: venue.balances.get("USDT") == Decimal("9999.8800002"))
    assert binance_server.requests.count("POST /fapi/v1/listenKey") == 1


async def test_depth_gap_resyncs_from_a_fresh_snapshot(binance_server, venue):
    snapshots = binance_server.requests.count("GET /fapi/v1/depth")
    binance_server.bids["59990.00"] = "4.000"     # a level only a new snapshot shows
    await binance_server.book_change(asks=[(60000.2, 0)], gap=True)   # pu is not the last u: lost event
    book = await next_event(venue, Book, lambda b: Decimal("59990") in [l.price for l in b.bids], timeout=5)
    assert book_levels(book) == binance_server.book()
    assert binance_server.requests.count("GET /fapi/v1/depth") > snapshots
    await binance_server.book_change(bids=[(59990.0, 0)])
    book = await next_event(venue, Book, lambda b: Decimal("59990") not in [l.price for l in b.bids])
    assert book_levels(book) == binance_server.book()


async def test_post_only_place_reject_cancel(binance_server, venue):
    update = await venue.place_order(OrderRequest(SYM, "b1", Side.BUY, Decimal("59999.9"), Decimal("0.01")))
    assert update.status is OrderStatus.OPEN
    sent = next(iter(binance_server.orders.values()))
    assert (sent["clientOrderId"], sent["timeInForce"], sent["origQty"]) == ("b1", "GTX", "0.01")
    # -5022 (ccxt: OrderNotFillable on /fapi URLs, InvalidOrder here) is the one post-only event
    with pytest.raises(PostOnlyRejected, match="-5022"):
        await venue.place_order(OrderRequest(SYM, "b2", Side.BUY, Decimal("60000.1"), Decimal("0.01")))
    [open_order] = await venue.fetch_open_orders(SYM)
    assert open_order.client_order_id == "b1" and open_order.size == Decimal("0.01")
    assert (await venue.cancel_order(SYM, "b1")).status is OrderStatus.CANCELLED
    assert (await venue.cancel_order(SYM, "b1")).reason == "already done"


# IOC (timeInForce=IOC) --------------------------------------------------------------------------------
ioc = functools.partial(ioc_request, SYM)


async def test_ioc_takes_the_book_up_to_its_limit_and_the_rest_expires(binance_server, venue):
    await binance_server.book_change(asks=[(60000.3, 2.0)])            # beyond the IOC's limit
    await next_event(venue, Book, lambda b: len(b.asks) == 3)
    update = await venue.place_order(ioc("i1", Side.BUY, "60000.2", "5"))
    # on the wire: timeInForce=IOC, not post-only (no GTX), not reduce-only
    sent_params = binance_server.placed[-1]
    assert (sent_params["timeInForce"], sent_params["type"], sent_params["newClientOrderId"]) == ("IOC", "LIMIT", "i1")
    assert "reduceOnly" not in sent_params
    # 1.2 at 60000.1 and 3.0 at 60000.2 (not the 2.0 at 60000.3); Binance expires the other 0.8
    [order] = binance_server.orders.values()
    assert (order["status"], order["executedQty"], order["timeInForce"]) == ("EXPIRED", "4.200", "IOC")
    assert (update.status, update.filled, update.post_only_rejected) == (OrderStatus.CANCELLED, Decimal("4.2"), False)
    assert update.reason == "ioc: filled 4.2 of 5, rest cancelled"
    assert binance_server.book()[1] == [(60000.3, 2.0)]
    # the fills (taker, at each level's price) add up to the filled amount exactly; the user
    # stream's EXPIRED gives the same terminal state, not a post-only rejection
    fills, [streamed] = await order_events(venue, "i1", Decimal("4.2"))
    assert [(u.fill.price, u.fill.size, u.fill.liquidity) for u in fills] == [
        (Decimal("60000.1"), Decimal("1.2"), "taker"), (Decimal("60000.2"), Decimal("3"), "taker")]
    assert (streamed.status, streamed.filled, streamed.post_only_rejected) == (
        OrderStatus.CANCELLED, Decimal("4.2"), False)
    view = await venue.fetch_order(SYM, "i1")
    assert (view.status, view.filled, view.size) == (OrderStatus.CANCELLED, Decimal("4.2"), Decimal(5))
    assert await venue.fetch_open_orders(SYM) == []
    assert await venue.fetch_position(SYM) == Decimal("4.2")

    # reduce-only IOC sell into the bid: reduceOnly=true on the wire, filled whole
    closed = await venue.place_order(ioc("i2", Side.SELL, "60000.0", "1", reduce_only=True))
    assert (binance_server.placed[-1]["timeInForce"], binance_server.placed[-1]["reduceOnly"]) == ("IOC", "true")
    assert (closed.status, closed.filled) == (OrderStatus.FILLED, Decimal(1))
    # and a resting order afterwards is post-only GTC as ever (GTX, no IOC)
    rest = await venue.place_order(OrderRequest(SYM, "g1", Side.BUY, Decimal("59999.9"), Decimal("0.01")))
    assert (rest.status, binance_server.placed[-1]["timeInForce"]) == (OrderStatus.OPEN, "GTX")


async def test_ioc_with_nothing_to_match_expires_unfilled_and_is_not_a_post_only_rejection(binance_server, venue):
    update = await venue.place_order(ioc("i3", Side.BUY, "60000.0", "0.5"))   # below the ask: takes nothing
    assert binance_server.placed[-1]["timeInForce"] == "IOC"
    assert next(iter(binance_server.orders.values()))["status"] == "EXPIRED"
    await assert_ended_unfilled(venue, update, "i3")
    assert (await venue.fetch_order(SYM, "i3")).status is OrderStatus.CANCELLED
    assert binance_server.book() == ([(60000.0, 1.5), (59999.9, 2.0)], [(60000.1, 1.2), (60000.2, 3.0)])


async def test_ioc_answered_before_matching_ends_exact_through_the_streams(binance_server, venue):
    """Binance's futures engine may answer NEW before it has matched: the fills and the EXPIRED
    come on the user stream, and add up to the order's final filled amount."""
    binance_server.match_after_answer = True
    update = await venue.place_order(ioc("i4", Side.BUY, "60000.1", "2"))
    assert (update.status, update.filled) == (OrderStatus.OPEN, 0)
    fills, [final] = await order_events(venue, "i4", Decimal("1.2"))
    assert [(u.fill.price, u.fill.size) for u in fills] == [(Decimal("60000.1"), Decimal("1.2"))]
    assert (final.status, final.filled, final.post_only_rejected) == (OrderStatus.CANCELLED, Decimal("1.2"), False)
    assert (await venue.fetch_order(SYM, "i4")).filled == Decimal("1.2")


async def test_fills_sent_in_one_burst_all_arrive(binance_server, venue):
    """Several TRADE events handled before the watcher runs again: ccxt's cache (returned by the
    watch, new updates only) carries them all."""
    await venue.place_order(OrderRequest(SYM, "b3", Side.BUY, Decimal("59999.9"), Decimal("0.03")))
    [order] = binance_server.orders.values()
    for _ in range(3):                                                 # three TRADE events, back to back
        await binance_server.fill(order["orderId"], "0.01")
    fills, [ended] = await order_events(venue, "b3", Decimal("0.03"))
    assert [u.fill.size for u in fills] == [Decimal("0.01")] * 3
    assert (ended.status, ended.filled) == (OrderStatus.FILLED, Decimal("0.03"))


async def test_post_only_ioc_is_refused_before_sending(binance_server, venue):
    bad = OrderRequest(SYM, "i5", Side.BUY, Decimal("60000.1"), Decimal("0.01"), post_only=True, time_in_force="IOC")
    with pytest.raises(OrderRejected, match="post-only order cannot be IOC") as refused:
        await venue.place_order(bad)
    assert not isinstance(refused.value, PostOnlyRejected)
    assert sent(binance_server, "POST") == 0 and binance_server.placed == []


async def test_the_engine_crossing_by_ioc_counts_exactly_what_filled(binance_server, venue):
    """An escalation (here: the difference is beyond the hard band) sends an IOC limit inside the
    band; what the book had fills, the rest expires, and the engine's position and order agree."""
    spec = await venue.instrument(SYM)
    engine = InstrumentEngine(
        spec=spec, policy=Schedule(steps=[ScheduleStep(after_s=0, target=Decimal(5))]),
        execution=ExecutionParams(max_order_size=Decimal(5), urgency=Urgency(hard_band=Decimal(0))),
        limits=RiskLimits(max_position=Decimal(10), max_order_size=Decimal(5), stale_after_s=30),
        sample_interval_s=1.0, venue=venue, store=MemoryStore(), throttler=OrderBudget(rate_limit=100),
        clock=time.time)
    engine.on_book(await venue.fetch_book(SYM, 5))                 # ask 1.2 @ 60000.1, 3.0 @ 60000.2
    with capture_logs() as logs:
        await engine.decide()
        [placed] = binance_server.placed
        # an IOC limit 10 bps past the far touch (60000.1 → 60060.1), never a market order
        assert (placed["type"], placed["timeInForce"], placed["price"], placed["quantity"]) == (
            "LIMIT", "IOC", "60060.1", "5")
        cid = placed["newClientOrderId"]
        fills, ended = await order_events(venue, cid, Decimal("4.2"))
        for update in [*fills, *ended]:                                # the streams, as the daemon feeds them
            await engine.on_order_update(update)
    # the answer ended the order (filled 4.2, the rest expired); the fills made the position
    [ended] = [e for e in logs if e["event"] == "order.cancelled"]
    assert (ended["client_order_id"], ended["filled"], ended["size"]) == (cid, Decimal("4.2"), Decimal(5))
    assert engine.position.size == Decimal("4.2") and engine.live_orders() == [] and cid not in engine.orders
    assert sum(e["size"] for e in logs if e["event"] == "order.filled") == Decimal("4.2")


# amend (PUT /fapi/v1/order) -------------------------------------------------------------------------
def sent(server: BinanceServer, method: str) -> int:
    return server.requests.count(f"{method} /fapi/v1/order")


async def test_amend_moves_a_resting_post_only_order_in_place(binance_server, venue):
    assert venue.supports_amend                                      # binanceusdm has editOrder
    await venue.place_order(OrderRequest(SYM, "m1", Side.BUY, Decimal("59999.9"), Decimal("0.01")))
    [order] = binance_server.orders.values()
    amended = await venue.amend_order(SYM, "m1", Decimal("59999.5"))
    assert (amended.status, amended.reason, amended.venue_order_id) == (OrderStatus.OPEN, "amended",
                                                                        str(order["orderId"]))
    # one modify, no cancel and no new order: the same order moved, still post-only (GTX)
    assert (sent(binance_server, "PUT"), sent(binance_server, "POST"), sent(binance_server, "DELETE")) == (1, 1, 0)
    assert list(binance_server.orders) == [order["orderId"]]
    assert (order["clientOrderId"], order["price"], order["origQty"], order["timeInForce"], order["status"]) == (
        "m1", "59999.5", "0.01", "GTX", "NEW")
    # the adapter's view: same client id, new price, same size; the user-data stream said AMENDMENT
    view = await venue.fetch_order(SYM, "m1")
    assert (view.client_order_id, view.price, view.size, view.status) == (
        "m1", Decimal("59999.5"), Decimal("0.01"), OrderStatus.OPEN)
    await eventually(lambda: any(o["info"].get("x") == "AMENDMENT" and o["price"] == 59999.5
                                 for o in venue.acct.orders))
    # it rests at the new price: a print at the old one does not reach it, one at the new one fills it
    await binance_server.trade(59999.9, 0.5, "sell")
    assert order["executedQty"] == "0"
    await binance_server.trade(59999.5, 0.5, "sell")
    filled = await next_event(venue, OrderUpdate, lambda u: u.fill is not None)
    assert (filled.client_order_id, filled.fill.price, filled.status) == ("m1", Decimal("59999.5"), OrderStatus.FILLED)


async def test_amend_of_an_order_filled_meanwhile_reconciles_instead_of_resending(binance_server, venue):
    await venue.place_order(OrderRequest(SYM, "m2", Side.BUY, Decimal("59999.9"), Decimal("0.01")))
    [order] = binance_server.orders.values()
    await binance_server.fill(order["orderId"], "0.01")             # filled at the venue as the amend goes out
    update = await venue.amend_order(SYM, "m2", Decimal("59999.5"))
    # Binance answered -2013 (no open order to modify); the adapter looked the order up instead
    assert (update.status, update.filled, update.reason) == (OrderStatus.FILLED, Decimal("0.01"),
                                                             "amend outcome reconciled")
    assert (sent(binance_server, "PUT"), sent(binance_server, "POST"), sent(binance_server, "GET")) == (1, 1, 1)
    assert list(binance_server.orders) == [order["orderId"]] and order["price"] == "59999.9"
    view = await venue.fetch_order(SYM, "m2")
    assert (view.status, view.filled, view.price) == (OrderStatus.FILLED, Decimal("0.01"), Decimal("59999.9"))


async def test_amend_that_would_cross_ends_the_order_as_a_post_only_rejection(binance_server, venue):
    await venue.place_order(OrderRequest(SYM, "m3", Side.BUY, Decimal("59999.9"), Decimal("0.01")))
    [order] = binance_server.orders.values()
    update = await venue.amend_order(SYM, "m3", Decimal("60000.1"))  # onto the ask
    # Binance does not refuse it: the amendment cancels the GTX order (EXPIRED); the engine must know
    assert (update.status, update.post_only_rejected) == (OrderStatus.REJECTED, True)
    assert (order["status"], order["price"], sent(binance_server, "POST")) == ("EXPIRED", "59999.9", 1)
    assert await venue.fetch_open_orders(SYM) == []
    # the user stream's EXPIRED for it says the same (the engine acts on whichever comes first)
    streamed = await next_event(venue, OrderUpdate, lambda u: u.client_order_id == "m3" and not u.status.is_live)
    assert (streamed.status, streamed.post_only_rejected) == (OrderStatus.REJECTED, True)
    assert (await venue.fetch_order(SYM, "m3")).status is OrderStatus.REJECTED


async def test_a_post_only_rejection_makes_the_engine_quote_a_tick_further_back(binance_server, venue):
    spec = await venue.instrument(SYM)
    engine = InstrumentEngine(
        spec=spec, policy=Schedule(steps=[ScheduleStep(after_s=0, target=Decimal("0.01"))]),
        execution=ExecutionParams(max_order_size=Decimal("0.01")),
        limits=RiskLimits(max_position=Decimal(1), max_order_size=Decimal("0.01"), stale_after_s=30),
        sample_interval_s=1.0, venue=venue, store=MemoryStore(), throttler=OrderBudget(rate_limit=100),
        clock=time.time)
    engine.on_book(await venue.fetch_book(SYM, 5))                # bid 60000.0, ask 60000.1
    # sellers come down to 60000.0 before the engine's bid there arrives: -5022
    await binance_server.book_change(bids=[(60000.0, 0)], asks=[(60000.0, 0.8)])
    with capture_logs() as logs:
        await engine.decide()
    assert sent(binance_server, "POST") == 1 and binance_server.orders == {} and engine.live_orders() == []
    [rejected] = [e for e in logs if e["event"] == "order.rejected"]
    assert rejected["price"] == Decimal("60000.0") and "re-quoting 1 tick(s) back" in rejected["reason"]

    book = await next_event(venue, Book, lambda b: b.best_ask == Decimal("60000.0"))
    engine.on_book(book)                                           # bid 59999.9, ask 60000.0
    await engine.decide()
    assert sent(binance_server, "POST") == 1                       # backing off: no new order yet
    await asyncio.sleep(0.15)                                      # the first back-off pause is 0.1 s
    await engine.decide()
    [placed] = binance_server.orders.values()
    # one tick behind the bid (59999.9), still post-only
    assert (placed["price"], placed["timeInForce"], placed["side"]) == ("59999.8", "GTX", "BUY")
    assert [o.price for o in engine.live_orders()] == [Decimal("59999.8")]


@pytest.mark.parametrize("exchange, info, status, rejected", [
    # Binance: a GTX order that would take expires (REST status / user stream X, f); an IOC also expires
    ("binanceusdm", {"status": "EXPIRED", "timeInForce": "GTX"}, "expired", True),
    ("binanceusdm", {"X": "EXPIRED", "f": "GTX", "x": "EXPIRED"}, "expired", True),
    ("binanceusdm", {"status": "EXPIRED", "timeInForce": "IOC"}, "expired", False),
    ("binanceusdm", {"status": "CANCELED", "timeInForce": "GTX"}, "canceled", False),
    ("binanceusdm", {"X": "EXPIRED", "f": "IOC", "x": "EXPIRED"}, "expired", False),
    # Deribit: an edit with reject_post_only that would cross cancels the order
    ("deribit", {"order_state": "cancelled", "cancel_reason": "edit_post_only_reject"}, "canceled", True),
    ("deribit", {"order_state": "cancelled", "cancel_reason": "user_request"}, "canceled", False),
    ("deribit", {"order_state": "cancelled", "time_in_force": "immediate_or_cancel", "post_only": False},
     "canceled", False),
    # Bybit and OKX: a cancelled post-only order, the reason only in info
    ("bybit", {"orderStatus": "Cancelled", "rejectReason": "EC_PostOnlyWillTakeLiquidity"}, "canceled", True),
    ("bybit", {"orderStatus": "Cancelled", "rejectReason": "EC_NoError"}, "canceled", False),
    ("okx", {"state": "canceled", "cancelSource": "31"}, "canceled", True),
    ("okx", {"state": "canceled", "cancelSource": "1"}, "canceled", False),
])
def test_orders_ended_as_post_only_rejections_are_recognised_from_info(exchange, info, status, rejected):
    order = {"status": status, "filled": 0.0, "info": info}
    assert (normalise.post_only_rejection(exchange, order) is not None) is rejected


@pytest.mark.parametrize("exchange, post_only, tif, reduce_only, expected", [
    ("binanceusdm", True, "GTC", False, {"postOnly": True, "clientOrderId": "c"}),     # ccxt: GTX
    ("binanceusdm", False, "IOC", True, {"postOnly": False, "timeInForce": "IOC", "reduceOnly": True,
                                         "clientOrderId": "c"}),
    ("deribit", True, "GTC", False, {"postOnly": True, "label": "c"}),   # ccxt: post_only + reject_post_only
    ("deribit", False, "IOC", False, {"postOnly": False, "timeInForce": "IOC", "label": "c"}),  # immediate_or_cancel
])
def test_order_params_map_the_request_to_ccxt_unified_params(exchange, post_only, tif, reduce_only, expected):
    assert normalise.order_params(exchange, "c", post_only=post_only, time_in_force=tif,
                                  reduce_only=reduce_only) == expected


def test_order_params_refuse_a_post_only_ioc():
    with pytest.raises(ValueError, match="post-only order cannot be IOC"):
        normalise.order_params("binanceusdm", "c", post_only=True, time_in_force="IOC", reduce_only=False)


async def test_429_then_418(binance_server, venue):
    binance_server.faults.append(("POST /fapi/v1/order", 429, {"code": -1003, "msg": "Too many requests."}, {}))
    with pytest.raises(OrderRejected, match="rate limited"):
        await venue.place_order(OrderRequest(SYM, "r1", Side.BUY, Decimal("59999.9"), Decimal("0.01")))
    with pytest.raises(OrderRejected, match="cool-down"):
        await venue.place_order(OrderRequest(SYM, "r2", Side.BUY, Decimal("59999.9"), Decimal("0.01")))
    assert binance_server.requests.count("POST /fapi/v1/order") == 1
    binance_server.faults.append(("GET /fapi/v1/openOrders", 418, {"code": -1003, "msg": "Way too many requests; "
                                  "IP banned until 1999999999999."}, {"Retry-After": "120"}))
    with pytest.raises(VenueError):
        await venue.fetch_open_orders(SYM)
    assert venue.cooldown_remaining() > 100


def test_error_mapping_uses_the_real_url_prefix():
    exchange = ccxt.binanceusdm()

    def raised(code: int, url: str, status: int = 400) -> BaseException:
        body = f'{{"code":{code},"msg":"x"}}'
        try:
            exchange.handle_errors(status, "x", url, "POST", {}, body, exchange.parse_json(body), {}, None)
        except ccxt.BaseError as exc:
            return exc
        raise AssertionError("no exception")

    fapi = "https://fapi.binance.com/fapi/v1/order"
    assert isinstance(raised(-5022, fapi), ccxt.OrderNotFillable)          # linear-specific map
    assert classify(raised(-5022, fapi)) is Action.REJECTED
    assert is_post_only_reject(raised(-5022, fapi))                         # the adapter raises PostOnlyRejected
    assert not is_post_only_reject(raised(-5021, fapi))                     # FOK not filled: not post-only
    assert not is_post_only_reject(raised(-4014, fapi))                     # price off the tick
    assert classify(raised(-2013, fapi)) is Action.RECONCILE                 # order does not exist
    assert classify(raised(-1003, fapi)) is Action.SLOW_DOWN
    assert classify(raised(-2015, fapi)) is Action.HALT                     # bad key / IP / permissions
    assert classify(raised(-1007, fapi), placing=True) is Action.RECONCILE   # send status unknown
    assert classify(raised(-1021, fapi)) is Action.RETRY                     # clock skew on REST, not a book gap
    assert classify(raised(0, fapi, status=418)) is Action.BANNED
    assert classify(raised(0, fapi, status=429)) is Action.SLOW_DOWN
    # on a loopback URL the prefix table does not apply: binanceusdm's common map still rejects
    assert classify(raised(-5022, "http://127.0.0.1:1/fapi/v1/order")) is Action.REJECTED
    assert is_post_only_reject(raised(-5022, "http://127.0.0.1:1/fapi/v1/order"))


# key permissions (live mode) ----------------------------------------------------------------------
async def test_live_refuses_a_key_that_can_withdraw(binance_server, tmp_path):
    binance_server.api_restrictions["enableWithdrawals"] = True
    venue = CcxtVenue(binance_config(binance_server, tmp_path), CREDENTIALS)
    try:
        with pytest.raises(VenueError, match="can withdraw.*untick 'Enable Withdrawals'"):
            await venue.connect([SYM])
        # refused before any stream or order: nothing subscribed, clients closed
        assert "GET /sapi/v1/account/apiRestrictions" in binance_server.requests
        assert not binance_server.sockets and "POST /fapi/v1/listenKey" not in binance_server.requests
        assert venue.md.session is None and venue.acct.session is None
    finally:
        await venue.close()


@pytest.mark.parametrize("answer", ["missing", "denied", "no_field", "testnet"])
async def test_permissions_the_venue_cannot_tell_are_a_warning(binance_server, tmp_path, answer):
    """404 (no such endpoint), -2015 (key not allowed to ask), an answer without the field, and the
    test network (ccxt has no sapi URL there): logged, and live trading goes on."""
    if answer == "missing":
        binance_server.api_restrictions = None
    elif answer == "denied":
        binance_server.faults.append(("GET /sapi/v1/account/apiRestrictions", 401,
                                      {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}, {}))
    elif answer == "no_field":
        del binance_server.api_restrictions["enableWithdrawals"]
    with capture_logs() as logs:
        venue = CcxtVenue(binance_config(binance_server, tmp_path, testnet=answer == "testnet"), CREDENTIALS)
        try:
            await venue.connect([SYM])
            await next_event(venue, Book)
            assert not venue.halted(SYM)
        finally:
            await venue.close()
    [warning] = [e for e in logs if e["event"] == "venue.permissions_unknown"]
    assert warning["log_level"] == "warning" and "withdraw" in warning["hint"]
    assert ("GET /sapi/v1/account/apiRestrictions" in binance_server.requests) is (answer != "testnet")


async def test_paper_mode_asks_no_permissions(binance_server, tmp_path):
    venue = CcxtVenue.from_config(binance_config(binance_server, tmp_path), None, "paper")
    try:
        await venue.connect([SYM])
        await next_event(venue, Book)
    finally:
        await venue.close()
    assert not [r for r in binance_server.requests if r.startswith(("GET /sapi", "POST /fapi/v1/listenKey"))]
