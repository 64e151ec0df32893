"""The ccxt adapter against a local Binance USDⓈ-M REST server (ccxt's own binanceusdm client), and
Binance's URL-prefix error mapping checked with the real URL through ccxt's error handler.

Not covered yet: Binance's market and user-data websocket streams (the server has none)."""

from __future__ import annotations

from decimal import Decimal
from typing import AsyncIterator

import ccxt
import pytest

from bot.core.types import OrderStatus, Side
from bot.venues.base import OrderRejected, OrderRequest, VenueError
from bot.venues.ccxt.config import CcxtVenueConfig
from bot.venues.ccxt.errors import Action, classify
from bot.venues.ccxt.venue import CcxtVenue
from tests.venues.conftest import CREDENTIALS, FAST
from tests.venues.servers.binance import BinanceServer

SYM = "BTCUSDT"


@pytest.fixture
async def binance_server() -> AsyncIterator[BinanceServer]:
    server = BinanceServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def venue(binance_server, tmp_path) -> AsyncIterator[CcxtVenue]:
    cfg = CcxtVenueConfig.model_validate({
        "exchange": "binanceusdm", "urls": {"rest": binance_server.rest, "ws": binance_server.ws},
        "markets_cache": str(tmp_path / "binance.json"), **FAST, "rate_limit_cooldown_ms": 300})
    v = CcxtVenue(cfg, CREDENTIALS)
    await v.connect([SYM])
    v.is_stale = lambda symbol: False   # no websocket streams in this server: REST behaviour only
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


async def test_post_only_place_reject_cancel(binance_server, venue):
    update = await venue.place_order(OrderRequest(SYM, "b1", Side.BUY, Decimal("59999.9"), Decimal("0.01")))
    assert update.status is OrderStatus.OPEN
    sent = next(iter(binance_server.orders.values()))
    assert (sent["clientOrderId"], sent["timeInForce"], sent["origQty"]) == ("b1", "GTX", "0.01")
    with pytest.raises(OrderRejected):
        await venue.place_order(OrderRequest(SYM, "b2", Side.BUY, Decimal("60000.1"), Decimal("0.01")))
    [open_order] = await venue.fetch_open_orders(SYM)
    assert open_order.client_order_id == "b1" and open_order.size == Decimal("0.01")
    assert (await venue.cancel_order(SYM, "b1")).status is OrderStatus.CANCELLED
    assert (await venue.cancel_order(SYM, "b1")).reason == "already done"


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
    assert classify(raised(-2013, fapi)) is Action.RECONCILE                 # order does not exist
    assert classify(raised(-1003, fapi)) is Action.SLOW_DOWN
    assert classify(raised(-2015, fapi)) is Action.HALT                     # bad key / IP / permissions
    assert classify(raised(-1007, fapi), placing=True) is Action.RECONCILE   # send status unknown
    assert classify(raised(-1021, fapi)) is Action.RETRY                     # clock skew on REST, not a book gap
    assert classify(raised(0, fapi, status=418)) is Action.BANNED
    assert classify(raised(0, fapi, status=429)) is Action.SLOW_DOWN
    # on a loopback URL the prefix table does not apply: binanceusdm's common map still rejects
    assert classify(raised(-5022, "http://127.0.0.1:1/fapi/v1/order")) is Action.REJECTED
