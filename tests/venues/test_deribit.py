"""The ccxt adapter against a local Deribit (JSON-RPC over HTTP and WebSocket on 127.0.0.1),
with ccxt's own Deribit client code talking to it."""

from __future__ import annotations

import asyncio
import functools
import math
import time
from decimal import Decimal
from pathlib import Path

import ccxt
import pytest
from structlog.testing import capture_logs

from bot.config import load_config
from bot.core.options_book import OptionPosition
from bot.core.types import Book, FactorsUpdate, OrderStatus, OrderUpdate, Side, Trade
from bot.daemon import Daemon
from bot.portfolio import Portfolio
from bot.venues.base import OptionGreeksUpdate, OrderNotFound, OrderRejected, OrderRequest, PostOnlyRejected, VenueError
from bot.venues.ccxt.errors import Action, classify, is_post_only_reject
from bot.venues.ccxt.venue import CcxtVenue
from tests.venues.conftest import (
    CREDENTIALS, assert_ended_unfilled, deribit_config, eventually, ioc_request, next_event, order_events,
)
from tests.venues.servers.deribit import OPTION, DeribitServer, Fault

PERP = "BTC-PERPETUAL"
ROOT = Path(__file__).resolve().parents[2]


def book_levels(book: Book) -> tuple[list, list]:
    return [(float(l.price), float(l.size)) for l in book.bids], [(float(l.price), float(l.size)) for l in book.asks]


def server_levels(server: DeribitServer, name: str = PERP) -> tuple[list, list]:
    """The server's book in contracts (amount USD / 10)."""
    return ([(p, a / 10) for p, a in sorted(server.bids[name].items(), reverse=True)],
            [(p, a / 10) for p, a in sorted(server.asks[name].items())])


def req(cid: str, side: Side, price: str, size: str = "3") -> OrderRequest:
    return OrderRequest(PERP, cid, side, Decimal(price), Decimal(size))


def subscribed(server: DeribitServer, *prefixes: str) -> bool:
    channels = {c for chans in server.subscriptions.values() for c in chans}
    return all(any(c.startswith(p) for c in channels) for p in prefixes)


STREAMS = ("book.", "trades.", "ticker.", "user.orders.", "user.trades.")


async def connected(venue: CcxtVenue, server: DeribitServer) -> CcxtVenue:
    """Connected, first book received and every stream subscribed."""
    await venue.connect([PERP])
    await next_event(venue, Book)
    await eventually(lambda: subscribed(server, *STREAMS))
    return venue


# instruments --------------------------------------------------------------------------------------
async def test_instrument_spec_from_markets_and_cached_for_restart(deribit_server, tmp_path):
    venue = CcxtVenue(deribit_config(deribit_server, tmp_path), CREDENTIALS)
    try:
        await venue.connect([PERP])
        spec = await venue.instrument(PERP)
    finally:
        await venue.close()
    # TICK_SIZE precision mode: precision.price is the tick; amounts are USD, 10 USD per contract
    assert venue.md.precisionMode == ccxt.TICK_SIZE
    assert (spec.tick_size, spec.lot_size, spec.min_size, spec.contract_size) == (Decimal("0.5"), 1, 1, 10)
    assert spec.inverse and spec.base == "BTC" and spec.quote == "USD" and spec.settle == "BTC"
    assert spec.maker_fee_bps == Decimal("-1") and spec.taker_fee_bps == Decimal("5")
    assert deribit_server.count("public/get_instruments") == 1

    # a restart reads the cache: connect does not wait on get_instruments (refreshed in the background)
    deribit_server.faults.append(Fault("public/get_instruments", delay_s=5.0))
    again = CcxtVenue(deribit_config(deribit_server, tmp_path), CREDENTIALS)
    try:
        await asyncio.wait_for(again.connect([PERP]), 1.0)
        assert await again.instrument(PERP) == spec
    finally:
        await again.close()


async def test_unknown_symbol_is_a_venue_error(deribit_venue):
    with pytest.raises(VenueError, match="no instrument ETH-NOPE"):
        await deribit_venue.connect(["ETH-NOPE"])


# key permissions (live mode) ----------------------------------------------------------------------
async def test_live_refuses_a_key_that_can_withdraw(deribit_server, tmp_path):
    deribit_server.auth_scope = "connection mainaccount account:read_write trade:read_write wallet:read_write"
    venue = CcxtVenue(deribit_config(deribit_server, tmp_path), CREDENTIALS)
    try:
        with pytest.raises(VenueError, match="can withdraw.*wallet:read_write.*'Wallet' permission to read"):
            await venue.connect([PERP])
        assert deribit_server.count("public/auth") == 1 and deribit_server.count("ws:public/auth") == 0
        assert not deribit_server.sockets and not deribit_server.count("ws:public/subscribe")
        assert venue.md.session is None and venue.acct.session is None and not venue.acct.clients
    finally:
        await venue.close()


async def test_a_read_only_wallet_scope_passes(deribit_server, deribit_venue):
    with capture_logs() as logs:
        await connected(deribit_venue, deribit_server)
    assert [e["withdrawals"] for e in logs if e["event"] == "venue.permissions_checked"] == [False]
    assert not [e for e in logs if e["event"] == "venue.permissions_unknown"]
    assert deribit_server.count("public/auth") == 1      # asked once over REST, then streams log in


async def test_permissions_the_venue_cannot_tell_are_a_warning(deribit_server, tmp_path):
    deribit_server.auth_scope = None                     # public/auth answers without a scope
    with capture_logs() as logs:
        venue = CcxtVenue(deribit_config(deribit_server, tmp_path), CREDENTIALS)
        try:
            await connected(venue, deribit_server)
            assert not venue.halted(PERP)
        finally:
            await venue.close()
    [warning] = [e for e in logs if e["event"] == "venue.permissions_unknown"]
    assert warning["log_level"] == "warning" and warning["check"] == "public/auth scope"


async def test_a_key_the_venue_refuses_to_describe_is_a_warning_not_a_stall(deribit_server, tmp_path):
    deribit_server.faults.append(Fault("public/auth", status=400, body={
        "jsonrpc": "2.0", "error": {"code": 13021, "message": "forbidden"}}))
    with capture_logs() as logs:
        venue = CcxtVenue(deribit_config(deribit_server, tmp_path), CREDENTIALS)
        try:
            started = asyncio.get_running_loop().time()
            await connected(venue, deribit_server)
            assert asyncio.get_running_loop().time() - started < 1.5
        finally:
            await venue.close()
    [warning] = [e for e in logs if e["event"] == "venue.permissions_unknown"]
    assert "PermissionDenied" in warning["error"]


# market data --------------------------------------------------------------------------------------
async def test_streams_book_changes_and_trades(deribit_server, deribit_venue):
    venue = deribit_venue
    await venue.connect([PERP])
    first = await next_event(venue, Book)
    assert book_levels(first) == server_levels(deribit_server)
    await eventually(lambda: subscribed(deribit_server, "trades."))
    await deribit_server.book_change(bids=[(60000.0, 0), (59998.0, 70.0)], asks=[(60000.5, 250.0)])
    book = await next_event(venue, Book, lambda b: b.best_bid == Decimal("59999.5"))
    assert book_levels(book) == server_levels(deribit_server)
    await deribit_server.trade(PERP, 60000.5, 120.0, "buy")
    trade = await next_event(venue, Trade)
    assert (trade.price, trade.size, trade.aggressor) == (Decimal("60000.5"), Decimal(12), Side.BUY)


async def test_disconnect_then_gap_leaves_a_clean_book(deribit_server, deribit_venue):
    venue = await connected(deribit_venue, deribit_server)
    # 1) the connection drops; meanwhile a level disappears and the next snapshot no longer has it.
    #    ccxt alone would merge the new snapshot into the old book and keep the stale 59999.0 level.
    await deribit_server.drop_connections()
    del deribit_server.bids[PERP][59999.0]
    deribit_server.change_id += 5
    book = await next_event(venue, Book, timeout=5)
    assert book_levels(book) == server_levels(deribit_server)
    assert Decimal("59999.0") not in [l.price for l in book.bids]

    # 2) a change is lost (prev_change_id gap): the book is dropped and resubscribed from a snapshot
    deribit_server.bids[PERP][59990.0] = 400.0       # a level only the new snapshot will show
    await deribit_server.book_change(asks=[(60001.0, 0)], gap=True)
    book = await next_event(venue, Book, lambda b: Decimal("59990.0") in [l.price for l in b.bids], timeout=5)
    assert book_levels(book) == server_levels(deribit_server)
    assert deribit_server.requests.count("ws:public/subscribe") >= 3   # subscribed, resubscribed twice

    # 3) and the stream is healthy again: an ordinary change applies on top of the fresh book
    await deribit_server.book_change(bids=[(59990.0, 0)])
    book = await next_event(venue, Book, lambda b: Decimal("59990.0") not in [l.price for l in b.bids])
    assert book_levels(book) == server_levels(deribit_server)
    assert not venue.is_stale(PERP)


async def test_stale_book_blocks_new_orders_until_it_recovers(deribit_server, tmp_path):
    venue = CcxtVenue(deribit_config(deribit_server, tmp_path, stale_after_ms=300), CREDENTIALS)
    try:
        await connected(venue, deribit_server)
        await asyncio.sleep(0.4)
        assert venue.is_stale(PERP)
        with pytest.raises(OrderRejected, match="stale"):
            await venue.place_order(req("s1", Side.BUY, "59999.5"))
        assert deribit_server.count("private/buy") == 0
        await deribit_server.book_change(bids=[(59998.0, 10.0)])
        await next_event(venue, Book)
        update = await venue.place_order(req("s2", Side.BUY, "59999.5"))
        assert update.status is OrderStatus.OPEN
    finally:
        await venue.close()


# Greeks and positions -----------------------------------------------------------------------------
async def test_option_greeks_from_ticker_and_normalised_positions(deribit_server, tmp_path):
    venue = CcxtVenue(deribit_config(deribit_server, tmp_path, greeks_symbols=[OPTION["instrument_name"]]),
                      CREDENTIALS)
    try:
        await connected(venue, deribit_server)
        option = OPTION["instrument_name"]
        await eventually(lambda: option in venue.greeks)
        g = venue.greeks[option]
        assert g.delta == pytest.approx(0.55) and g.mark_iv == pytest.approx(0.55)
        assert g.vega == pytest.approx(150.0 * 100)              # USD per 1.00 of vol
        assert g.theta == pytest.approx(-40.0 * 365)             # USD per year
        assert g.underlying_price == pytest.approx(60100.0)
        assert g.mark_price_usd == pytest.approx(0.05 * 60100.0)
        # the same Greeks are streamed as events for the portfolio's venue source, with the factors
        events = []
        while not venue._queue.empty():
            events.append(venue._queue.get_nowait())
        streamed = [e for e in events if isinstance(e, OptionGreeksUpdate) and e.symbol == option]
        assert streamed and streamed[-1].greeks == g
        assert any(isinstance(e, FactorsUpdate) for e in events)

        # flat: ccxt's parse_position says "short"; normalised it is flat
        assert await venue.fetch_position(PERP) == 0
        assert venue.positions[PERP].side == "flat"
        deribit_server.positions[PERP] = -1230.0                 # USD
        assert await venue.fetch_position(PERP) == Decimal(-123)
        assert venue.positions[PERP].side == "short"
        # the premium-adjusted delta comes from the position's raw info
        deribit_server.positions[option] = 2.0
        raw = await venue.acct.fetch_position(option)
        assert raw["side"] == "long" and not math.isnan(raw["info"]["delta"])
        from bot.venues.ccxt.normalise import position_from_ccxt, units
        pos = position_from_ccxt("deribit", option, raw, units(venue.acct.market(raw["symbol"])))
        assert pos.delta_coin == pytest.approx(0.84) and pos.size == 2
    finally:
        await venue.close()


async def test_option_position_delta_reaches_the_portfolio(deribit_server, tmp_path):
    """The option streamed for Greeks has its position polled too; the venue's premium-adjusted
    delta of it goes out as an event, which the daemon's dispatch hands to the portfolio, whose
    venue source uses it (and logs how far the local value is from it)."""
    option = OPTION["instrument_name"]
    deribit_server.positions[option] = 2.0                              # coins; the server's delta is 0.42 a coin
    venue = CcxtVenue(deribit_config(deribit_server, tmp_path, greeks_symbols=[option], position_poll_ms=50),
                      CREDENTIALS)
    daemon = Daemon(load_config(ROOT / "config/examples/deribit-delta-hedge.yaml"))
    held = OptionPosition("c", "BTC", OPTION["strike"], OPTION["expiration_timestamp"] / 1000, True, 3.0, 0.5,
                          venue_symbol=option)
    daemon.venue, daemon.engines = venue, {}
    daemon.portfolio = portfolio = Portfolio(0.0, [held], greeks_source="venue")
    computed = portfolio.options.greeks("BTC", 60_100.0, time.time()).delta_coin
    try:
        with capture_logs() as logs:
            await venue.connect([PERP])
            dispatch = asyncio.create_task(daemon._dispatch())     # every event, the ticker's Greeks first
            await eventually(lambda: any(e["event"] == "greeks.mismatch" and e.get("greek") == "position_delta"
                                         for e in logs))
            dispatch.cancel()
        assert "private/get_position" in deribit_server.requests
        [venue_delta] = {(e["venue"], e["local"]) for e in logs if e.get("greek") == "position_delta"}
        assert venue_delta[0] == pytest.approx(0.42)            # per coin; Black-76 at the ticker's marks: ~0.29
        assert portfolio.options.greeks("BTC", 60_100.0, time.time()).delta_coin == pytest.approx(3 * 0.42)
        assert computed != pytest.approx(3 * 0.42, rel=0.05)
    finally:
        await venue.close()


# orders -------------------------------------------------------------------------------------------
async def test_place_amend_fill_cancel_post_only(deribit_server, deribit_venue):
    venue = await connected(deribit_venue, deribit_server)
    update = await venue.place_order(req("c1", Side.BUY, "59999.5", "3"))
    assert (update.status, update.filled, update.reason) == (OrderStatus.OPEN, 0, "accepted")
    sent = next(iter(deribit_server.orders.values()))
    assert sent["label"] == "c1" and sent["post_only"] and sent["amount"] == 30.0   # 3 contracts = 30 USD

    [open_order] = await venue.fetch_open_orders(PERP)
    assert (open_order.client_order_id, open_order.size, open_order.price) == ("c1", 3, Decimal("59999.5"))

    amended = await venue.amend_order(PERP, "c1", Decimal("59999.0"))
    assert (amended.status, amended.reason) == (OrderStatus.OPEN, "amended")
    assert sent["price"] == 59999.0

    await deribit_server.trade(PERP, 59999.0, 20.0, "sell")          # fills 2 of our 3 contracts
    fill_update = await next_event(venue, OrderUpdate, lambda u: u.fill is not None)
    fill = fill_update.fill
    assert (fill.client_order_id, fill.size, fill.price, fill.liquidity, fill.fee_currency) == (
        "c1", 2, Decimal("59999.0"), "maker", "BTC")
    assert fill_update.status is OrderStatus.OPEN and fill_update.filled == 2
    assert [f.trade_id for f in await venue.fetch_fills(PERP, 0)] == [fill.trade_id]
    assert await venue.fetch_position(PERP) == 2

    cancelled = await venue.cancel_order(PERP, "c1")
    assert (cancelled.status, cancelled.filled) == (OrderStatus.CANCELLED, 2)
    # cancelling again: the venue says not open; the adapter reports the final state
    again = await venue.cancel_order(PERP, "c1")
    assert again.status is OrderStatus.CANCELLED and again.reason == "already done"
    with pytest.raises(OrderNotFound):
        await venue.cancel_order(PERP, "never-sent")
    with pytest.raises(OrderNotFound):
        await venue.fetch_order(PERP, "never-sent")


async def test_post_only_rejection(deribit_server, deribit_venue):
    venue = await connected(deribit_venue, deribit_server)
    # 11054 post_only_reject (ccxt: InvalidOrder) is the one post-only event the engine backs off on
    with pytest.raises(PostOnlyRejected, match="post_only_reject"):
        await venue.place_order(req("x1", Side.BUY, "60000.5"))       # at the ask: would take
    assert deribit_server.orders == {}
    await venue.place_order(req("x2", Side.SELL, "60001.0"))
    with pytest.raises(PostOnlyRejected, match="post_only_reject"):
        await venue.amend_order(PERP, "x2", Decimal("60000.0"))       # onto the bid: refused, the order stays
    assert next(iter(deribit_server.orders.values()))["price"] == 60001.0
    deribit_server.faults.append(Fault("private/buy", status=400, body={
        "jsonrpc": "2.0", "error": {"message": "not_enough_funds", "code": 10009}}))
    with pytest.raises(OrderRejected, match="not_enough_funds") as other:   # another refusal: not post-only
        await venue.place_order(req("x3", Side.BUY, "59999.0"))
    assert not isinstance(other.value, PostOnlyRejected)


def queued(venue) -> list:
    """The venue's events not yet read (without waiting)."""
    events = []
    while not venue._queue.empty():
        events.append(venue._queue.get_nowait())
    return events


ioc = functools.partial(ioc_request, PERP)


async def test_ioc_takes_the_book_up_to_its_limit_and_the_rest_is_cancelled(deribit_server, deribit_venue):
    venue = await connected(deribit_venue, deribit_server)
    # 300 contracts (3000 USD) up to 60001.0: the book has 150 at 60000.5 and 80 at 60001.0
    update = await venue.place_order(ioc("d1", Side.BUY, "60001.0", "300"))
    sent = deribit_server.placed[-1]
    assert (sent["time_in_force"], sent["label"], float(sent["amount"]), sent["type"]) == (
        "immediate_or_cancel", "d1", 3000.0, "limit")
    assert "post_only" not in sent and "reject_post_only" not in sent and "reduce_only" not in sent
    [order] = deribit_server.orders.values()
    assert (order["order_state"], order["filled_amount"], order["time_in_force"]) == (
        "cancelled", 2300.0, "immediate_or_cancel")
    assert (update.status, update.filled, update.post_only_rejected) == (OrderStatus.CANCELLED, 230, False)
    assert update.reason == "ioc: filled 230 of 300, rest cancelled"
    assert deribit_server.asks[PERP] == {60002.0: 3000.0}              # beyond the limit: untouched
    # the fills: in the answer's trades and on the trade stream, each reported once
    fills, [streamed] = await order_events(venue, "d1", Decimal(230))
    assert [(u.fill.price, u.fill.size, u.fill.liquidity) for u in fills] == [
        (Decimal("60000.5"), 150, "taker"), (Decimal("60001.0"), 80, "taker")]
    await asyncio.sleep(0.2)
    assert not [e for e in queued(venue) if isinstance(e, OrderUpdate) and e.fill is not None]
    assert (streamed.status, streamed.filled, streamed.post_only_rejected) == (OrderStatus.CANCELLED, 230, False)
    view = await venue.fetch_order(PERP, "d1")
    assert (view.status, view.filled, view.size) == (OrderStatus.CANCELLED, 230, 300)
    assert await venue.fetch_open_orders(PERP) == []
    assert await venue.fetch_position(PERP) == 230
    assert sum(f.size for f in await venue.fetch_fills(PERP, 0)) == 230

    # reduce-only IOC sell into the bid (100 contracts at 60000.0): reduce_only on the wire, filled whole
    closed = await venue.place_order(ioc("d2", Side.SELL, "60000.0", "50", reduce_only=True))
    assert (deribit_server.placed[-1]["time_in_force"], deribit_server.placed[-1]["reduce_only"]) == (
        "immediate_or_cancel", "true")
    assert (closed.status, closed.filled) == (OrderStatus.FILLED, 50)
    # a resting order afterwards is post-only GTC as ever
    rest = await venue.place_order(req("g1", Side.BUY, "59999.5"))
    sent = deribit_server.placed[-1]
    assert (sent["post_only"], sent["reject_post_only"], sent.get("time_in_force")) == ("true", "true", None)
    assert rest.status is OrderStatus.OPEN


async def test_ioc_with_nothing_to_match_is_cancelled_unfilled_not_a_post_only_rejection(deribit_server,
                                                                                         deribit_venue):
    venue = await connected(deribit_venue, deribit_server)
    update = await venue.place_order(ioc("d3", Side.BUY, "60000.0", "5"))     # below the ask: takes nothing
    assert deribit_server.placed[-1]["time_in_force"] == "immediate_or_cancel"
    assert next(iter(deribit_server.orders.values()))["order_state"] == "cancelled"
    await assert_ended_unfilled(venue, update, "d3")
    assert server_levels(deribit_server)[1] == [(60000.5, 150.0), (60001.0, 80.0), (60002.0, 300.0)]


async def test_fills_sent_in_one_burst_all_arrive(deribit_server, deribit_venue):
    """ccxt's Deribit handler resolves the trade watch with each message's own trades and keeps
    no cache, so of messages handled before the watcher runs again only the first got through;
    the adapter's subclass keeps the cache (what the watch then returns)."""
    venue = await connected(deribit_venue, deribit_server)
    await venue.place_order(req("b1", Side.BUY, "59999.5", "3"))
    [order] = deribit_server.orders.values()
    for amount in (10.0, 10.0, 10.0):                                  # three messages, back to back
        await deribit_server.fill(order["order_id"], amount)
    fills, [ended] = await order_events(venue, "b1", Decimal(3))
    assert [u.fill.size for u in fills] == [1, 1, 1]
    assert (ended.status, ended.filled) == (OrderStatus.FILLED, 3)


async def test_post_only_ioc_is_refused_before_sending(deribit_server, deribit_venue):
    venue = await connected(deribit_venue, deribit_server)
    bad = OrderRequest(PERP, "d4", Side.BUY, Decimal("60000.5"), Decimal(3), post_only=True, time_in_force="IOC")
    with pytest.raises(OrderRejected, match="post-only order cannot be IOC") as refused:
        await venue.place_order(bad)
    assert not isinstance(refused.value, PostOnlyRejected)
    assert deribit_server.placed == [] and deribit_server.count("private/buy") == 0


@pytest.mark.parametrize("answer", ["answer", "error"])
async def test_post_only_edit_that_cancels_the_order_is_one_post_only_rejection(deribit_server, deribit_venue,
                                                                                answer):
    # Deribit's documented cancel_reason edit_post_only_reject: the edit ends the order, the reason
    # only in the order's raw fields; answered with the cancelled order or with 11054
    deribit_server.edit_post_only_cancels = answer
    venue = await connected(deribit_venue, deribit_server)
    await venue.place_order(req("e1", Side.SELL, "60001.0"))
    update = await venue.amend_order(PERP, "e1", Decimal("60000.0"))   # onto the bid
    assert (update.status, update.post_only_rejected) == (OrderStatus.REJECTED, True)
    assert "edit_post_only_reject" in update.reason
    streamed = await next_event(venue, OrderUpdate, lambda u: u.client_order_id == "e1" and not u.status.is_live)
    assert (streamed.status, streamed.post_only_rejected) == (OrderStatus.REJECTED, True)
    assert await venue.fetch_open_orders(PERP) == []


async def test_amend_of_an_order_filled_meanwhile_reports_the_fill(deribit_server, deribit_venue):
    venue = await connected(deribit_venue, deribit_server)
    await venue.place_order(req("f1", Side.BUY, "59999.5", "3"))
    [order] = deribit_server.orders.values()
    await deribit_server.fill(order["order_id"], 30.0)                # all 3 contracts, as the amend goes out
    update = await venue.amend_order(PERP, "f1", Decimal("59999.0"))
    # Deribit refused (not_open_order); the adapter looked the order up instead of resending
    assert (update.status, update.filled, update.reason) == (OrderStatus.FILLED, 3, "amend outcome reconciled")
    assert (deribit_server.count("private/edit"), deribit_server.count("private/buy")) == (1, 1)
    assert order["price"] == 59999.5 and len(deribit_server.orders) == 1


async def test_off_grid_price_is_refused_before_sending(deribit_server, deribit_venue):
    venue = await connected(deribit_venue, deribit_server)
    with pytest.raises(OrderRejected, match="not on the venue grid"):
        await venue.place_order(req("g1", Side.BUY, "59999.25"))
    assert deribit_server.count("private/buy") == 0


async def test_cancel_all(deribit_server, deribit_venue):
    venue = await connected(deribit_venue, deribit_server)
    await venue.place_order(req("a1", Side.BUY, "59999.5"))
    await venue.place_order(req("a2", Side.SELL, "60002.0"))
    updates = await venue.cancel_all(PERP)
    assert sorted(u.client_order_id for u in updates) == ["a1", "a2"]
    assert all(u.status is OrderStatus.CANCELLED for u in updates)
    assert all(o["order_state"] == "cancelled" for o in deribit_server.orders.values())


async def test_timeout_on_place_reconciles_without_a_duplicate(deribit_server, tmp_path):
    venue = CcxtVenue(deribit_config(deribit_server, tmp_path, request_timeout_ms=300), CREDENTIALS)
    try:
        await connected(venue, deribit_server)
        deribit_server.faults.append(Fault("private/buy", delay_s=1.0))   # accepted, answer too late
        update = await venue.place_order(req("t1", Side.BUY, "59999.5"))
        assert update.status is OrderStatus.OPEN and update.reason == "accepted (after timeout)"
        assert deribit_server.count("private/buy") == 1
        assert [o["label"] for o in deribit_server.orders.values()] == ["t1"]
        assert (await venue.fetch_order(PERP, "t1")).status is OrderStatus.OPEN
    finally:
        await venue.close()


async def test_timeout_on_place_that_never_arrived_is_not_resent(deribit_server, tmp_path):
    venue = CcxtVenue(deribit_config(deribit_server, tmp_path, request_timeout_ms=300, place_reconcile_ms=300),
                      CREDENTIALS)
    try:
        await connected(venue, deribit_server)
        deribit_server.faults.append(Fault("private/buy", status=504, body={}, delay_s=1.0))
        with pytest.raises(VenueError, match="outcome unknown"):
            await venue.place_order(req("t2", Side.BUY, "59999.5"))
        with pytest.raises(OrderNotFound):                       # the engine's resolution step
            await venue.fetch_order(PERP, "t2")
        assert deribit_server.count("private/buy") == 1 and deribit_server.orders == {}
    finally:
        await venue.close()


# rate limits and errors ---------------------------------------------------------------------------
async def test_429_pauses_requests_instead_of_hammering(deribit_server, tmp_path):
    venue = CcxtVenue(deribit_config(deribit_server, tmp_path, rate_limit_cooldown_ms=400), CREDENTIALS)
    try:
        await connected(venue, deribit_server)
        deribit_server.faults.append(Fault("private/buy", status=429, body={"message": "Too Many Requests"}))
        with pytest.raises(OrderRejected, match="rate limited"):
            await venue.place_order(req("r1", Side.BUY, "59999.5"))
        assert venue.cooldown_remaining() > 0
        with pytest.raises(OrderRejected, match="cool-down"):                   # not even sent
            await venue.place_order(req("r2", Side.BUY, "59999.5"))
        assert deribit_server.count("private/buy") == 1
        # reads wait the cool-down out, then go through
        started = asyncio.get_running_loop().time()
        await venue.fetch_open_orders(PERP)
        assert asyncio.get_running_loop().time() - started >= 0.2
        assert (await venue.place_order(req("r3", Side.BUY, "59999.5"))).status is OrderStatus.OPEN
    finally:
        await venue.close()


async def test_418_ban_honours_retry_after(deribit_server, tmp_path):
    venue = CcxtVenue(deribit_config(deribit_server, tmp_path, rate_limit_cooldown_ms=100), CREDENTIALS)
    try:
        await connected(venue, deribit_server)
        deribit_server.faults.append(Fault("private/get_open_orders_by_instrument", status=418, body={},
                                           headers={"Retry-After": "60"}))
        with pytest.raises(VenueError):
            await venue.fetch_open_orders(PERP)
        assert venue.cooldown_remaining() > 50
        with pytest.raises(OrderRejected, match="cool-down"):
            await venue.place_order(req("b1", Side.BUY, "59999.5"))
        assert deribit_server.count("private/buy") == 0
    finally:
        await venue.close()


async def test_authentication_error_halts_the_instrument(deribit_server, deribit_venue):
    venue = await connected(deribit_venue, deribit_server)
    deribit_server.faults.append(Fault("private/buy", status=400,
                                       body={"jsonrpc": "2.0", "error": {"code": 13009, "message": "unauthorized"}}))
    with pytest.raises(OrderRejected, match="halted"):
        await venue.place_order(req("h1", Side.BUY, "59999.5"))
    assert venue.halted(PERP)
    with pytest.raises(OrderRejected, match="halted"):
        await venue.place_order(req("h2", Side.BUY, "59999.5"))
    assert deribit_server.count("private/buy") == 1


def test_deribit_error_codes_map_to_actions():
    exchange = ccxt.deribit()

    def action(code: int, placing: bool = False) -> Action:
        body = f'{{"jsonrpc":"2.0","error":{{"code":{code},"message":"x"}}}}'
        try:
            exchange.handle_errors(400, "Bad Request", "https://www.deribit.com/api/v2/private/buy", "GET", {}, body,
                                   exchange.parse_json(body), {}, None)
        except ccxt.BaseError as exc:
            return classify(exc, placing=placing)
        raise AssertionError("no exception")

    def post_only(code: int, message: str) -> bool:
        body = f'{{"jsonrpc":"2.0","error":{{"message":"{message}","code":{code}}}}}'
        try:
            exchange.handle_errors(400, "Bad Request", "https://www.deribit.com/api/v2/private/buy", "GET", {}, body,
                                   exchange.parse_json(body), {}, None)
        except ccxt.BaseError as exc:
            return is_post_only_reject(exc)
        raise AssertionError("no exception")

    assert action(11054) is Action.REJECTED           # post_only_reject
    assert post_only(11054, "post_only_reject") and post_only(11054, "x")
    assert not post_only(10043, "price_wrong_tick") and not post_only(10009, "not_enough_funds")
    assert action(10028) is Action.SLOW_DOWN          # too_many_requests
    assert action(13009) is Action.HALT               # unauthorized
    assert action(13002) is Action.HALT               # account_blocked (PermissionDenied)
    assert action(10004) is Action.RECONCILE          # order_not_found
    assert action(10041) is Action.RETRY              # settlement_in_progress (OnMaintenance)
    assert action(10040) is Action.RETRY              # "retry" (ExchangeNotAvailable): idempotent reads retry
    assert action(10040, placing=True) is Action.RECONCILE   # a send: look it up, never resend
    assert classify(ccxt.RequestTimeout("t"), placing=True) is Action.RECONCILE
    assert classify(ccxt.RequestTimeout("t")) is Action.RETRY
    assert classify(ccxt.InvalidNonce("gap"), stream=True) is Action.RESYNC_BOOK
    assert classify(ccxt.ChecksumError("bad"), stream=True) is Action.RESYNC_BOOK
    assert classify(ccxt.AccountSuspended("x")) is Action.HALT
    assert classify(ccxt.DDoSProtection("binanceusdm 418 I'm a teapot {}")) is Action.BANNED


async def test_close_leaves_no_tasks_or_sessions(deribit_server, tmp_path):
    venue = CcxtVenue(deribit_config(deribit_server, tmp_path), CREDENTIALS)
    await connected(venue, deribit_server)
    await venue.close()
    assert venue.md.session is None and venue.acct.session is None
    assert not venue.md.clients and not venue.acct.clients
    leftover = [t for t in asyncio.all_tasks() if t.get_name().startswith("deribit:")]
    assert leftover == []
