"""A local Binance USDⓈ-M REST server (``/fapi/v1/...``) for tests: exchangeInfo, depth and the
order endpoints, with injectable 429/418 answers. (Its market and user-data websocket streams
are not implemented yet.)"""

from __future__ import annotations

import itertools
import time

from aiohttp import web

EXCHANGE_INFO = {"timezone":"UTC","serverTime":1,"rateLimits":[],"exchangeFilters":[],"assets":[],"symbols":[{
 "symbol":"BTCUSDT","pair":"BTCUSDT","contractType":"PERPETUAL","deliveryDate":4133404800000,"onboardDate":1569398400000,"status":"TRADING",
 "maintMarginPercent":"2.5000","requiredMarginPercent":"5.0000","baseAsset":"BTC","quoteAsset":"USDT","marginAsset":"USDT",
 "pricePrecision":2,"quantityPrecision":3,"baseAssetPrecision":8,"quotePrecision":8,"underlyingType":"COIN","underlyingSubType":[],
 "triggerProtect":"0.0500","liquidationFee":"0.012500","marketTakeBound":"0.05","maxMoveOrderLimit":10000,
 "filters":[{"filterType":"PRICE_FILTER","minPrice":"556.80","maxPrice":"4529764","tickSize":"0.10"},
  {"filterType":"LOT_SIZE","stepSize":"0.001","maxQty":"1000","minQty":"0.001"},
  {"filterType":"MARKET_LOT_SIZE","stepSize":"0.001","maxQty":"120","minQty":"0.001"},
  {"filterType":"MAX_NUM_ORDERS","limit":200},{"filterType":"MAX_NUM_ALGO_ORDERS","limit":10},
  {"filterType":"MIN_NOTIONAL","notional":"100"},
  {"filterType":"PERCENT_PRICE","multiplierUp":"1.0500","multiplierDown":"0.9500","multiplierDecimal":"4"}],
 "orderTypes":["LIMIT","MARKET"],"timeInForce":["GTC","IOC","FOK","GTX","GTD"]}]}


class BinanceServer:
    def __init__(self) -> None:
        self.bids = {"60000.00": "1.500", "59999.90": "2.000"}
        self.asks = {"60000.10": "1.200", "60000.20": "3.000"}
        self.orders: dict[int, dict] = {}
        self.requests: list[str] = []
        self.faults: list[tuple[str, int, dict, dict]] = []   # (path, status, body, headers)
        self._ids = itertools.count(8001)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._http)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _http(self, request: web.Request) -> web.Response:
        key = f"{request.method} {request.path}"
        self.requests.append(key)
        for fault in list(self.faults):
            if fault[0] == key:
                self.faults.remove(fault)
                return web.json_response(fault[2], status=fault[1], headers=fault[3])
        p = dict(request.query) | dict(await request.post())
        if request.path == "/fapi/v1/exchangeInfo":
            return web.json_response(EXCHANGE_INFO)
        if request.path == "/fapi/v1/depth":
            return web.json_response({"lastUpdateId": 1000, "E": _ms(), "T": _ms(),
                                      "bids": [[p_, q] for p_, q in self.bids.items()],
                                      "asks": [[p_, q] for p_, q in self.asks.items()]})
        if request.path == "/fapi/v1/listenKey":  # API-key only, no signature
            return web.json_response({"listenKey": "test-listen-key"})
        if request.path.startswith("/fapi/") and "signature" not in p:
            return web.json_response({"code": -1022, "msg": "Signature for this request is not valid."}, status=400)
        if key == "POST /fapi/v1/order":
            price = float(p["price"])
            crosses = price >= min(map(float, self.asks)) if p["side"] == "BUY" else price <= max(map(float, self.bids))
            if p.get("timeInForce") == "GTX" and crosses:
                return web.json_response({"code": -5022, "msg": "Due to the order could not be executed as maker, "
                                                              "the Post Only order will be rejected."}, status=400)
            oid = next(self._ids)
            order = {"orderId": oid, "symbol": p["symbol"], "status": "NEW", "clientOrderId": p["newClientOrderId"],
                     "price": p["price"], "avgPrice": "0.00", "origQty": p["quantity"], "executedQty": "0",
                     "cumQuote": "0", "timeInForce": p.get("timeInForce", "GTC"), "type": "LIMIT",
                     "reduceOnly": p.get("reduceOnly") == "true", "side": p["side"], "positionSide": "BOTH",
                     "updateTime": _ms(), "workingType": "CONTRACT_PRICE", "priceProtect": False}
            self.orders[oid] = order
            return web.json_response(order)
        if key in ("GET /fapi/v1/order", "DELETE /fapi/v1/order"):
            order = next((o for o in self.orders.values() if str(o["orderId"]) == p.get("orderId")
                          or o["clientOrderId"] == p.get("origClientOrderId")), None)
            if order is None:
                return web.json_response({"code": -2013, "msg": "Order does not exist."}, status=400)
            if request.method == "DELETE":
                if order["status"] != "NEW":
                    return web.json_response({"code": -2011, "msg": "Unknown order sent."}, status=400)
                order["status"] = "CANCELED"
            return web.json_response(order)
        if key == "GET /fapi/v1/openOrders":
            return web.json_response([o for o in self.orders.values() if o["status"] == "NEW"])
        return web.json_response({"code": -1000, "msg": f"not implemented: {key}"}, status=400)


def _ms() -> int:
    return int(time.time() * 1000)
