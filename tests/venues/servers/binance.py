"""A local Binance USDⓈ-M server for tests, close enough to the real wire protocol for ccxt's own
binanceusdm client code:

* REST ``/fapi/v1/...``: exchangeInfo, depth (with ``lastUpdateId``), the order endpoints (new,
  query, cancel and modify: ``PUT /fapi/v1/order``, see :meth:`BinanceServer._modify`), positionRisk,
  leverageBracket, listenKey; ``/sapi/v1/account/apiRestrictions``. Signed endpoints check the
  ``X-MBX-APIKEY`` header and the HMAC-SHA256 ``signature``; tests can inject HTTP errors.
* WebSocket market streams on ``/public/ws/<n>`` and ``/market/ws/<n>`` (ccxt's URLs for linear
  futures; ``{"method": "SUBSCRIBE", "params": [...], "id": n}`` answered by
  ``{"result": null, "id": n}``): ``<symbol>@depth@<ms>ms`` diff events with ``U``/``u``/``pu``
  update ids (the client takes a REST snapshot and chains them), ``<symbol>@trade`` (what ccxt's
  ``watch_trades`` subscribes to) and ``@aggTrade``, ``<symbol>@ticker`` / ``@miniTicker``. As on Binance, depth,
  bookTicker and trade streams are only served on ``/public``, the others only on ``/market``.
* Orders honour their time in force (``timeInForce``): GTX (post-only) that would take is refused
  (-5022); GTC, IOC and FOK take the opposite book up to their price, level by level at each
  level's price (taker fills; the book's depth stream and the public trade stream show it); the
  rest of a GTC rests, that of an IOC expires (status ``EXPIRED``), and a FOK the book cannot fill
  whole expires unfilled. The answer (``newOrderRespType=RESULT``, as ccxt sends) is the order's
  state after matching, or the accepted order (``NEW``) with matching just after when
  ``match_after_answer`` is set (Binance's futures engine may answer before it has matched).
* The user-data stream on ``/private/ws?listenKey=...`` (key from ``POST /fapi/v1/listenKey``):
  ``ORDER_TRADE_UPDATE`` for every new, amended, cancelled, expired and filled order (execution type
  ``x`` NEW, AMENDMENT, CANCELED, EXPIRED, TRADE) and ``ACCOUNT_UPDATE`` after a fill.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from tests.venues.servers import LoopbackServer
from tests.venues.servers.deribit import API_KEY, SECRET

SYMBOL = "BTCUSDT"
LISTEN_KEY = "test-listen-key"
PUBLIC_CHANNELS = ("depth", "rpiDepth", "bookTicker", "trade")   # served on /public, the rest on /market
TICK, STEP = Decimal("0.10"), Decimal("0.001")                      # BTCUSDT's PRICE_FILTER and LOT_SIZE

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


def px(value: Any) -> str:
    """A price as the server keys and sends it (two decimals, like Binance's BTCUSDT)."""
    return f"{Decimal(str(value)):.2f}"


def qty(value: Any) -> str:
    """A quantity (three decimals)."""
    return f"{Decimal(str(value)):.3f}"


class BinanceServer(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self.bids = {"60000.00": "1.500", "59999.90": "2.000"}
        self.asks = {"60000.10": "1.200", "60000.20": "3.000"}
        self.update_id = 1000                      # the book's last update id (REST lastUpdateId, ws u)
        self.orders: dict[int, dict] = {}
        self.position = Decimal(0)                 # BTC, signed
        self.entry_price = Decimal(0)              # of the open position (0 when flat)
        self.wallet = Decimal(10_000)              # USDT
        self.requests: list[str] = []
        self.placed: list[dict[str, str]] = []     # the parameters of every POST /fapi/v1/order, as received
        self.match_after_answer = False            # answer NEW, then match (see the module docstring)
        self.faults: list[tuple[str, int, dict, dict]] = []   # (path, status, body, headers)
        # what GET /sapi/v1/account/apiRestrictions answers (None: 404, as where the endpoint is missing)
        self.api_restrictions: dict | None = {
            "ipRestrict": False, "createTime": 1700000000000, "enableReading": True, "enableWithdrawals": False,
            "enableInternalTransfer": False, "enableMargin": False, "enableFutures": True,
            "permitsUniversalTransfer": False, "enableVanillaOptions": False, "enableFixApiTrade": False,
            "enableFixReadOnly": False, "enableSpotAndMarginTrading": False, "enablePortfolioMarginTrading": False}
        self.listen_keys: set[str] = set()
        self.subscriptions: dict[web.WebSocketResponse, set[str]] = {}   # market sockets -> streams
        self.user_sockets: list[web.WebSocketResponse] = []
        self.sockets: list[web.WebSocketResponse] = []
        self._ids = itertools.count(8001)
        self._trade_ids = itertools.count(70001)
        self._matching: set[asyncio.Task] = set()

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/{category}/ws", self._ws)
        app.router.add_get("/{category}/ws/{stream}", self._ws)
        app.router.add_route("*", "/{tail:.*}", self._http)

    # test controls --------------------------------------------------------------------------------
    def subscribed(self, *prefixes: str) -> bool:
        streams = {s for subs in self.subscriptions.values() for s in subs}
        return all(any(s.startswith(p) for s in streams) for p in prefixes)

    async def stop(self) -> None:
        for task in list(self._matching):
            task.cancel()
        await asyncio.gather(*self._matching, return_exceptions=True)
        await super().stop()

    async def drop_connections(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        self.sockets.clear()
        self.subscriptions.clear()
        self.user_sockets.clear()

    def book(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """(bids best first, asks best first) as floats."""
        return ([(float(p), float(q)) for p, q in sorted(self.bids.items(), key=lambda x: -float(x[0]))],
                [(float(p), float(q)) for p, q in sorted(self.asks.items(), key=lambda x: float(x[0]))])

    async def book_change(self, *, bids=(), asks=(), gap: bool = False) -> None:
        """Apply and publish one ``depthUpdate`` (quantity 0 removes a level); ``gap`` loses the
        event before it (its ``pu`` is not the last ``u`` the client saw)."""
        if gap:
            self.update_id += 1
        pu = self.update_id
        first = self.update_id + 1
        self.update_id += 2                         # one event may carry several update ids
        for levels, book in ((bids, self.bids), (asks, self.asks)):
            for price, amount in levels:
                if Decimal(str(amount)) == 0:
                    book.pop(px(price), None)
                else:
                    book[px(price)] = qty(amount)
        now = _ms()
        event = {"e": "depthUpdate", "E": now, "T": now, "s": SYMBOL, "U": first, "u": self.update_id, "pu": pu,
                 "b": [[px(p), qty(a)] for p, a in bids], "a": [[px(p), qty(a)] for p, a in asks]}
        await self._publish(f"{SYMBOL.lower()}@depth", event)

    async def trade(self, price: Any, amount: Any, aggressor: str) -> int:
        """A public trade (``aggressor`` buy/sell); our resting orders it reaches fill as makers."""
        tid = await self._public_trade(price, amount, aggressor)
        left = Decimal(str(amount))
        for order in list(self.orders.values()):
            if order["status"] not in ("NEW", "PARTIALLY_FILLED") or left <= 0:
                continue
            limit = Decimal(order["price"])
            hit = (aggressor == "sell" and order["side"] == "BUY" and Decimal(str(price)) <= limit) or (
                aggressor == "buy" and order["side"] == "SELL" and Decimal(str(price)) >= limit)
            if hit:
                size = min(left, Decimal(order["origQty"]) - Decimal(order["executedQty"]))
                left -= size
                await self.fill(order["orderId"], size)
        return tid

    async def _public_trade(self, price: Any, amount: Any, aggressor: str) -> int:
        """Publish a trade on ``@trade`` and ``@aggTrade`` (``m``: the buyer was the maker)."""
        tid = next(self._trade_ids)
        now = _ms()
        await self._publish(f"{SYMBOL.lower()}@trade", {
            "e": "trade", "E": now, "T": now, "s": SYMBOL, "t": tid, "p": px(price), "q": qty(amount), "X": "MARKET",
            "m": aggressor == "sell"})
        await self._publish(f"{SYMBOL.lower()}@aggTrade", {
            "e": "aggTrade", "E": now, "a": tid, "s": SYMBOL, "p": px(price), "q": qty(amount), "f": tid, "l": tid,
            "T": now, "m": aggressor == "sell"})
        return tid

    async def fill(self, order_id: int, amount: Any, price: Any = None, *, maker: bool = True) -> None:
        """Fill ``amount`` of one of our orders at ``price`` (default: its own; maker fee 0.02 %,
        taker 0.04 %), with the user-data events."""
        order = self.orders[order_id]
        size = Decimal(str(amount))
        price = Decimal(order["price"]) if price is None else Decimal(str(price))
        done = Decimal(order["executedQty"]) + size
        order["executedQty"] = qty(done)
        order["cumQuote"] = str(Decimal(order["cumQuote"]) + size * price)
        order["avgPrice"] = str((Decimal(order["cumQuote"]) / done).quantize(Decimal("0.00001")))  # weighted
        order["status"] = "FILLED" if done >= Decimal(order["origQty"]) else "PARTIALLY_FILLED"
        order["updateTime"] = _ms()
        rate = Decimal("0.0002") if maker else Decimal("0.0004")
        fee = (size * price * rate).quantize(Decimal("0.00000001"))
        signed = size if order["side"] == "BUY" else -size
        if self.position == 0 or (self.position > 0) == (signed > 0):     # opening or adding: average in
            self.entry_price = (self.entry_price * abs(self.position) + price * size) / (abs(self.position) + size)
        before, self.position = self.position, self.position + signed
        if self.position == 0:
            self.entry_price = Decimal(0)
        elif before != 0 and (before > 0) != (self.position > 0):          # through zero: a new position
            self.entry_price = price
        self.wallet -= fee
        await self._user_event(order, "TRADE", last_qty=size, last_price=price, fee=fee, trade_id=next(self._trade_ids),
                               maker=maker)
        now = _ms()
        await self._user({"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {
            "m": "ORDER",
            "B": [{"a": "USDT", "wb": str(self.wallet), "cw": str(self.wallet), "bc": "0"}],
            "P": [{"s": SYMBOL, "pa": qty(self.position), "ep": order["price"], "bep": order["price"], "cr": "0",
                   "up": "0", "mt": "cross", "iw": "0", "ps": "BOTH", "ma": "USDT"}]}})

    # HTTP -----------------------------------------------------------------------------------------
    async def _http(self, request: web.Request) -> web.Response:
        key = f"{request.method} {request.path}"
        self.requests.append(key)
        for fault in list(self.faults):
            if fault[0] == key:
                self.faults.remove(fault)
                return web.json_response(fault[2], status=fault[1], headers=fault[3])
        body = await request.text()
        p = dict(request.query) | dict(await request.post())
        if request.path == "/fapi/v1/exchangeInfo":
            return web.json_response(EXCHANGE_INFO)
        if request.path == "/fapi/v1/depth":
            limit = int(p.get("limit", 500))
            bids, asks = self.book()
            return web.json_response({"lastUpdateId": self.update_id, "E": _ms(), "T": _ms(),
                                      "bids": [[px(a), qty(b)] for a, b in bids][:limit],
                                      "asks": [[px(a), qty(b)] for a, b in asks][:limit]})
        if request.headers.get("X-MBX-APIKEY") != API_KEY:
            return _error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        if request.path == "/fapi/v1/listenKey":  # API-key only, no signature
            if request.method == "DELETE":
                self.listen_keys.discard(LISTEN_KEY)
                return web.json_response({})
            self.listen_keys.add(LISTEN_KEY)
            return web.json_response({"listenKey": LISTEN_KEY})
        if not _signature_ok(request.query_string, body):
            return _error(400, -1022, "Signature for this request is not valid.")
        if key == "GET /sapi/v1/account/apiRestrictions":
            if self.api_restrictions is None:
                return web.Response(status=404, text="Not Found")
            return web.json_response(self.api_restrictions)
        if key == "POST /fapi/v1/order":
            return await self._place(p)
        if key == "PUT /fapi/v1/order":
            return await self._modify(p)
        if key in ("GET /fapi/v1/order", "DELETE /fapi/v1/order"):
            order = self._find(p)
            if order is None:
                return _error(400, -2013, "Order does not exist.")
            if request.method == "DELETE":
                if order["status"] not in ("NEW", "PARTIALLY_FILLED"):
                    return _error(400, -2011, "Unknown order sent.")
                order["status"] = "CANCELED"
                order["updateTime"] = _ms()
                await self._user_event(order, "CANCELED")
            return web.json_response(order)
        if key == "GET /fapi/v1/openOrders":
            return web.json_response([o for o in self.orders.values() if o["status"] in ("NEW", "PARTIALLY_FILLED")])
        if key in ("GET /fapi/v2/positionRisk", "GET /fapi/v3/positionRisk"):
            return web.json_response([self._position_risk()])
        if key == "GET /fapi/v1/leverageBracket":
            return web.json_response([{"symbol": SYMBOL, "notionalCoef": 1.0, "brackets": [
                {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
                 "maintMarginRatio": 0.004, "cum": 0.0}]}])
        return _error(400, -1000, f"not implemented: {key}")

    async def _place(self, p: dict[str, str]) -> web.Response:
        self.placed.append(dict(p))
        tif = p.get("timeInForce", "GTC")
        if tif not in ("GTC", "IOC", "FOK", "GTX"):
            return _error(400, -1115, "Invalid timeInForce.")
        if tif == "GTX" and self._crosses(p["side"], Decimal(p["price"])):
            return _error(400, -5022, "Due to the order could not be executed as maker, the Post Only order will be "
                                      "rejected.")
        oid = next(self._ids)
        order = {"orderId": oid, "symbol": p["symbol"], "status": "NEW", "clientOrderId": p["newClientOrderId"],
                 "price": p["price"], "avgPrice": "0.00", "origQty": p["quantity"], "executedQty": "0",
                 "cumQuote": "0", "timeInForce": tif, "type": "LIMIT",
                 "reduceOnly": p.get("reduceOnly") == "true", "side": p["side"], "positionSide": "BOTH",
                 "updateTime": _ms(), "workingType": "CONTRACT_PRICE", "priceProtect": False}
        self.orders[oid] = order
        await self._user_event(order, "NEW")
        if self.match_after_answer:
            task = asyncio.create_task(self._match(order, delay_s=0.05))
            self._matching.add(task)
            task.add_done_callback(self._matching.discard)
            return web.json_response(dict(order))
        await self._match(order)
        return web.json_response(order)

    async def _match(self, order: dict, delay_s: float = 0.0) -> None:
        """Match a new order against the opposite book per its time in force (GTX never takes)."""
        await asyncio.sleep(delay_s)
        tif = order["timeInForce"]
        if tif == "GTX":
            return
        limit, side = Decimal(order["price"]), order["side"]
        book = self.asks if side == "BUY" else self.bids
        reachable = sorted((Decimal(pr) for pr in book if (Decimal(pr) <= limit if side == "BUY" else
                                                          Decimal(pr) >= limit)), reverse=side == "SELL")
        wanted = Decimal(order["origQty"])
        if tif == "FOK" and sum((Decimal(book[px(pr)]) for pr in reachable), Decimal(0)) < wanted:
            reachable = []                                 # cannot fill whole: expires untouched
        for level in reachable:
            left = wanted - Decimal(order["executedQty"])
            if left <= 0:
                break
            size = min(left, Decimal(book[px(level)]))
            change = [(level, Decimal(book[px(level)]) - size)]
            await self.book_change(**({"asks": change} if side == "BUY" else {"bids": change}))
            await self._public_trade(level, size, "buy" if side == "BUY" else "sell")
            await self.fill(order["orderId"], size, level, maker=False)
        if tif in ("IOC", "FOK") and order["status"] in ("NEW", "PARTIALLY_FILLED"):
            order["status"] = "EXPIRED"
            order["updateTime"] = _ms()
            await self._user_event(order, "EXPIRED")

    def _find(self, p: dict[str, str]) -> dict | None:
        """The order named by ``orderId`` (which prevails) or ``origClientOrderId``."""
        if p.get("orderId"):
            return next((o for o in self.orders.values() if str(o["orderId"]) == p["orderId"]), None)
        return next((o for o in self.orders.values() if o["clientOrderId"] == p.get("origClientOrderId")), None)

    async def _modify(self, p: dict[str, str]) -> web.Response:
        """``PUT /fapi/v1/order`` (Modify Order, LIMIT orders only), as Binance documents it:
        ``symbol``, ``side``, ``quantity`` and ``price`` are mandatory, ``orderId`` or
        ``origClientOrderId`` names the order (``orderId`` prevails). An order that is not open
        (filled, cancelled, expired) or unknown: -2013. A price or quantity off the filters: refused,
        the order stays (-4014 / -4023); the same price and quantity: -5027. The order is cancelled
        by the amendment when it is partially filled and the new quantity is at most the executed
        one, or when it is GTX and the new price would take (reported as for a GTX order that cannot
        rest: status EXPIRED). Otherwise price and quantity change in place (same ``orderId`` and
        ``clientOrderId``; the order goes to the back of the queue) and the user-data stream sends
        ``ORDER_TRADE_UPDATE`` with execution type AMENDMENT. The answer is the order."""
        missing = next((k for k in ("symbol", "side", "quantity", "price") if not p.get(k)), None)
        if missing is not None or not (p.get("orderId") or p.get("origClientOrderId")):
            name = missing or "orderId"
            return _error(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        order = self._find(p)
        if order is None or order["status"] not in ("NEW", "PARTIALLY_FILLED"):
            return _error(400, -2013, "Order does not exist.")
        price, quantity = Decimal(p["price"]), Decimal(p["quantity"])
        if price % TICK:
            return _error(400, -4014, "Price not increased by tick size.")
        if quantity % STEP:
            return _error(400, -4023, "Quantity not increased by step size.")
        if price == Decimal(order["price"]) and quantity == Decimal(order["origQty"]):
            return _error(400, -5027, "No need to modify the order.")
        order["updateTime"] = _ms()
        if quantity <= Decimal(order["executedQty"]):
            order["status"] = "CANCELED"
            await self._user_event(order, "CANCELED")
        elif order["timeInForce"] == "GTX" and self._crosses(order["side"], price):
            order["status"] = "EXPIRED"
            await self._user_event(order, "EXPIRED")
        else:
            order["price"], order["origQty"] = p["price"], p["quantity"]
            await self._user_event(order, "AMENDMENT")
        return web.json_response(order)

    def _crosses(self, side: str, price: Decimal) -> bool:
        """A ``side`` limit at ``price`` would take liquidity from the book."""
        if side == "BUY":
            return bool(self.asks) and price >= min(map(Decimal, self.asks))
        return bool(self.bids) and price <= max(map(Decimal, self.bids))

    def _position_risk(self) -> dict:
        return {"symbol": SYMBOL, "positionSide": "BOTH", "positionAmt": qty(self.position),
                "entryPrice": str(self.entry_price.quantize(Decimal("0.00001"))) if self.position else "0.0",
                "breakEvenPrice": "0.0", "markPrice": "60000.05", "unRealizedProfit": "0", "liquidationPrice": "0",
                "isolatedMargin": "0", "notional": "0", "marginAsset": "USDT", "isolatedWallet": "0",
                "initialMargin": "0", "maintMargin": "0", "positionInitialMargin": "0", "openOrderInitialMargin": "0",
                "adl": 0, "bidNotional": "0", "askNotional": "0", "updateTime": _ms()}

    # WebSocket ------------------------------------------------------------------------------------
    async def _ws(self, request: web.Request) -> web.StreamResponse:
        category = request.match_info["category"]
        if category not in ("public", "market", "private"):
            return web.Response(status=404, text="Not Found")
        if category == "private" and request.query.get("listenKey") not in self.listen_keys:
            return web.json_response({"code": -1125, "msg": "This listenKey does not exist."}, status=400)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        if category == "private":
            self.user_sockets.append(ws)
        else:
            self.subscriptions[ws] = set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                req = json.loads(msg.data)
                method, rid, params = req.get("method"), req.get("id"), req.get("params") or []
                self.requests.append(f"ws:{category}:{method}")
                if category == "private" or method not in ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS"):
                    await ws.send_json({"error": {"code": 2, "msg": f"Invalid request: unknown method {method}"},
                                        "id": rid})
                    continue
                if method == "LIST_SUBSCRIPTIONS":
                    await ws.send_json({"result": sorted(self.subscriptions[ws]), "id": rid})
                    continue
                wrong = [s for s in params if (s.split("@")[1] in PUBLIC_CHANNELS) != (category == "public")]
                if wrong:
                    await ws.send_json({"error": {"code": 2, "msg": f"Invalid request: invalid stream {wrong[0]}"},
                                        "id": rid})
                    continue
                if method == "SUBSCRIBE":
                    self.subscriptions[ws].update(params)
                else:
                    self.subscriptions[ws].difference_update(params)
                await ws.send_json({"result": None, "id": rid})
                if method == "SUBSCRIBE":
                    for stream in params:
                        if stream.split("@")[1] in ("ticker", "miniTicker"):
                            await _send(ws, self._ticker(mini=stream.split("@")[1] == "miniTicker"))
        finally:
            self.subscriptions.pop(ws, None)
            for group in (self.sockets, self.user_sockets):
                if ws in group:
                    group.remove(ws)
        return ws

    def _ticker(self, mini: bool = False) -> dict:
        now = _ms()
        bids, asks = self.book()
        mid = px((bids[0][0] + asks[0][0]) / 2 if bids and asks else 60000.0)
        if mini:
            return {"e": "24hrMiniTicker", "E": now, "s": SYMBOL, "c": mid, "o": mid, "h": mid, "l": mid, "v": "1.000",
                    "q": mid}
        return {"e": "24hrTicker", "E": now, "s": SYMBOL, "p": "0.00", "P": "0.000", "w": mid, "c": mid, "Q": "0.001",
                "o": mid, "h": mid, "l": mid, "v": "1.000", "q": mid, "O": now - 86_400_000, "C": now, "F": 1, "L": 2,
                "n": 2}

    async def _publish(self, prefix: str, event: dict) -> None:
        for ws, streams in list(self.subscriptions.items()):
            if any(s == prefix or s.startswith(prefix + "@") for s in streams):
                await _send(ws, event)

    async def _user(self, event: dict) -> None:
        for ws in list(self.user_sockets):
            await _send(ws, event)

    async def _user_event(self, order: dict, execution: str, *, last_qty: Decimal = Decimal(0),
                          last_price: Decimal = Decimal(0), fee: Decimal | None = None, trade_id: int = 0,
                          maker: bool = True) -> None:
        now = _ms()
        o = {"s": order["symbol"], "c": order["clientOrderId"], "S": order["side"], "o": "LIMIT",
             "f": order["timeInForce"], "q": order["origQty"], "p": order["price"], "ap": order["avgPrice"], "sp": "0",
             "x": execution, "X": order["status"], "i": order["orderId"], "l": qty(last_qty), "z": order["executedQty"],
             "L": px(last_price), "T": now, "t": trade_id, "b": "0", "a": "0", "m": execution == "TRADE" and maker,
             "R": order["reduceOnly"], "wt": "CONTRACT_PRICE", "ot": "LIMIT", "ps": "BOTH", "cp": False, "rp": "0",
             "pP": False, "si": 0, "ss": 0, "V": "NONE", "pm": "NONE", "gtd": 0}
        if fee is not None:
            o |= {"N": "USDT", "n": str(fee)}
        await self._user({"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": o})


def _signature_ok(query: str, body: str) -> bool:
    """HMAC-SHA256 (hex) of the request's parameters as sent, without the trailing signature."""
    for text in (query, body):
        if "signature=" in text:
            payload, _, signature = text.rpartition("signature=")
            payload = payload[:-1] if payload.endswith("&") else payload
            expected = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
            return hmac.compare_digest(expected, signature.split("&")[0])
    return False


def _error(status: int, code: int, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


async def _send(ws: web.WebSocketResponse, event: dict) -> None:
    if not ws.closed:
        await ws.send_json(event)


def _ms() -> int:
    return int(time.time() * 1000)
