"""A local Deribit API v2 server for tests: JSON-RPC over HTTP (``GET /api/v2/{public,private}/...``)
and WebSocket (``/ws/api/v2``), close enough to the real wire protocol for ccxt's own client code.

It checks the ``deri-hmac-sha256`` REST signature and the websocket ``client_signature`` auth,
keeps one account (orders, trades, position) for a handful of instruments, and lets tests push
book changes and trades, drop connections, and inject HTTP errors or slow responses.

``private/buy`` / ``private/sell`` honour ``time_in_force``: a ``post_only`` order (sent with
``reject_post_only``) that would take is refused (11054 ``post_only_reject``); otherwise the order
takes the opposite book up to its price, level by level at each level's price (taker fills, in
the answer's ``trades`` and on the streams; the book's change stream shows it); the rest of a
``good_til_cancelled`` order rests, that of an ``immediate_or_cancel`` one is cancelled
(``order_state`` ``cancelled``, ``filled_amount`` kept), and a ``fill_or_kill`` the book cannot
fill whole is cancelled unfilled. The answer is ``{"order": ..., "trades": [...]}`` after matching.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from tests.venues.servers import LoopbackServer

API_KEY = "test-key"
SECRET = "test-secret"

PERP = {
    "instrument_name": "BTC-PERPETUAL", "kind": "future", "settlement_period": "perpetual",
    "base_currency": "BTC", "counter_currency": "USD", "quote_currency": "USD", "settlement_currency": "BTC",
    "tick_size": 0.5, "contract_size": 10, "min_trade_amount": 10, "is_active": True,
    "maker_commission": -0.0001, "taker_commission": 0.0005, "expiration_timestamp": 32503708800000,
    "creation_timestamp": 1534242287000, "instrument_type": "reversed", "price_index": "btc_usd",
}
OPTION = {
    "instrument_name": "BTC-27DEC30-60000-C", "kind": "option", "settlement_period": "month", "option_type": "call",
    "strike": 60000.0, "base_currency": "BTC", "counter_currency": "USD", "quote_currency": "BTC",
    "settlement_currency": "BTC", "tick_size": 0.0005, "contract_size": 1, "min_trade_amount": 0.1,
    "is_active": True, "maker_commission": 0.0003, "taker_commission": 0.0003,
    "expiration_timestamp": 1924588800000, "creation_timestamp": 1700000000000, "instrument_type": "reversed",
    "price_index": "btc_usd",
}


class RpcError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Fault:
    method: str
    status: int = 0               # HTTP status to answer with (0: no HTTP error)
    body: dict | None = None      # body for the HTTP error
    headers: dict = field(default_factory=dict)
    delay_s: float = 0.0          # process the request, then answer this late (client times out)


class DeribitServer(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self.instruments = {i["instrument_name"]: dict(i) for i in (PERP, OPTION)}
        self.bids: dict[str, dict[float, float]] = {"BTC-PERPETUAL": {60000.0: 1000.0, 59999.5: 2000.0, 59999.0: 500.0}}
        self.asks: dict[str, dict[float, float]] = {"BTC-PERPETUAL": {60000.5: 1500.0, 60001.0: 800.0, 60002.0: 3000.0}}
        self.change_id = 100
        self.orders: dict[str, dict] = {}
        self.user_trades: list[dict] = []
        self.positions: dict[str, float] = {"BTC-PERPETUAL": 0.0, OPTION["instrument_name"]: 0.0}
        self.faults: list[Fault] = []
        self.requests: list[str] = []
        self.placed: list[dict[str, str]] = []   # the parameters of every private/buy and private/sell, as received
        # what public/auth reports as the key's scope (None: no scope field in the answer);
        # a key that can withdraw has wallet:read_write
        self.auth_scope: str | None = "connection mainaccount account:read trade:read_write wallet:read"
        # a post-only edit that would cross: None refuses it (11054) and keeps the order; "answer" /
        # "error" cancel the order with cancel_reason edit_post_only_reject (Deribit's documented
        # reason) and answer with the cancelled order / with 11054
        self.edit_post_only_cancels: str | None = None
        self.sockets: list[web.WebSocketResponse] = []
        self.subscriptions: dict[web.WebSocketResponse, set[str]] = {}
        self._ids = itertools.count(1001)
        self._trade_ids = itertools.count(5001)

    # lifecycle ------------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v2/{api}/{method}", self._http)
        app.router.add_get("/ws/api/v2", self._ws)

    # test controls --------------------------------------------------------------------------------
    def count(self, method: str) -> int:
        return sum(1 for r in self.requests if r == method)

    async def drop_connections(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        self.sockets.clear()
        self.subscriptions.clear()

    async def book_change(self, name: str = "BTC-PERPETUAL", *, bids=(), asks=(), gap: bool = False) -> None:
        """Apply and publish a change; ``gap`` skips a change id (as if a message were lost)."""
        if gap:
            self.change_id += 1  # a change the client never receives
        prev = self.change_id
        self.change_id += 1
        for side, levels, book in (("bids", bids, self.bids[name]), ("asks", asks, self.asks[name])):
            for price, amount in levels:
                if amount == 0:
                    book.pop(price, None)
                else:
                    book[price] = amount
        data = {"type": "change", "timestamp": _ms(), "prev_change_id": prev, "change_id": self.change_id,
                "instrument_name": name,
                "bids": [["delete" if a == 0 else "change", p, a] for p, a in bids],
                "asks": [["delete" if a == 0 else "change", p, a] for p, a in asks]}
        await self._publish_prefix(f"book.{name}.", data)

    async def trade(self, name: str, price: float, amount: float, direction: str) -> None:
        """A public trade; our resting orders it reaches fill (maker), at their price."""
        tid = next(self._trade_ids)
        await self._publish_prefix(f"trades.{name}.", [{
            "trade_id": str(tid), "instrument_name": name, "price": price, "amount": amount, "direction": direction,
            "timestamp": _ms(), "trade_seq": tid, "tick_direction": 0, "mark_price": price, "index_price": price}])
        for order in list(self.orders.values()):
            if order["instrument_name"] != name or order["order_state"] != "open":
                continue
            hit = (direction == "sell" and order["direction"] == "buy" and price <= order["price"]) or (
                direction == "buy" and order["direction"] == "sell" and price >= order["price"])
            if hit:
                await self.fill(order["order_id"], min(amount, order["amount"] - order["filled_amount"]))

    async def fill(self, order_id: str, amount: float, price: float | None = None, *, taker: bool = False,
                   publish: bool = True) -> dict:
        """Fill ``amount`` of one of our orders at ``price`` (default: its own) as maker (rebate
        0.01 %) or taker (fee 0.05 %), with the stream events unless ``publish`` is false;
        returns the user trade."""
        order = self.orders[order_id]
        price = order["price"] if price is None else price
        cost = order["average_price"] * order["filled_amount"] + price * amount
        order["filled_amount"] += amount
        order["average_price"] = cost / order["filled_amount"]
        order["last_update_timestamp"] = _ms()
        if order["filled_amount"] >= order["amount"]:
            order["order_state"] = "filled"
        sign = 1 if order["direction"] == "buy" else -1
        self.positions[order["instrument_name"]] += sign * amount
        fee = (0.0005 if taker else -0.0001) * amount / price
        trade = {"trade_id": f"u{next(self._trade_ids)}", "instrument_name": order["instrument_name"],
                 "order_id": order_id, "direction": order["direction"], "amount": amount, "price": price,
                 "fee": fee, "fee_currency": "BTC", "liquidity": "T" if taker else "M", "timestamp": _ms(),
                 "label": order["label"], "order_type": "limit", "state": order["order_state"], "trade_seq": 1,
                 "tick_direction": 0, "index_price": price, "mark_price": price}
        self.user_trades.append(trade)
        if publish:
            await self._publish("user.orders.any.any.raw", dict(order))
            await self._publish("user.trades.any.any.raw", [trade])
        return trade

    async def ticker(self, name: str, **fields: Any) -> None:
        await self._publish_prefix(f"ticker.{name}.", self._ticker(name) | fields)

    # HTTP -----------------------------------------------------------------------------------------
    async def _http(self, request: web.Request) -> web.Response:
        api, method = request.match_info["api"], request.match_info["method"]
        name = f"{api}/{method}"
        self.requests.append(name)
        fault = next((f for f in self.faults if f.method == name), None)
        if fault is not None:
            self.faults.remove(fault)
            if fault.status:
                return web.json_response(fault.body or {}, status=fault.status, headers=fault.headers)
        params = dict(request.query)
        try:
            if api == "private":
                self._check_signature(request)
            result = await self._call(name, params)
            body = {"jsonrpc": "2.0", "result": result}
            status = 200
        except RpcError as exc:
            body = {"jsonrpc": "2.0", "error": {"message": exc.message, "code": exc.code}}
            status = 400
        body |= {"usIn": _ms() * 1000, "usOut": _ms() * 1000, "usDiff": 10, "testnet": True}
        if fault is not None and fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        return web.json_response(body, status=status)

    def _auth(self, params: dict) -> dict:
        """``public/auth`` with the ``client_signature`` grant (HTTP or WebSocket)."""
        if params.get("grant_type") != "client_signature":
            raise RpcError(13004, "invalid_credentials")
        payload = f"{params.get('timestamp')}\n{params.get('nonce')}\n{params.get('data', '')}"
        expected = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if params.get("client_id") != API_KEY or params.get("signature") != expected:
            raise RpcError(13004, "invalid_credentials")
        result = {"access_token": "tok", "refresh_token": "ref", "expires_in": 31536000, "token_type": "bearer"}
        if self.auth_scope is not None:
            result["scope"] = self.auth_scope
        return result

    def _check_signature(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("deri-hmac-sha256 "):
            raise RpcError(13009, "unauthorized")
        fields = dict(part.split("=", 1) for part in header[len("deri-hmac-sha256 "):].split(","))
        uri = urlsplit(str(request.url))
        path = uri.path + (f"?{request.query_string}" if request.query_string else "")
        payload = f"{fields['ts']}\n{fields['nonce']}\n{request.method}\n{path}\n\n"
        expected = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if fields.get("id") != API_KEY or not hmac.compare_digest(expected, fields.get("sig", "")):
            raise RpcError(13009, "unauthorized")

    async def _call(self, name: str, p: dict[str, str]) -> Any:
        if name == "public/get_time":
            return _ms()
        if name == "public/auth":
            return self._auth(p)
        if name == "public/get_currencies":
            return [{"currency": "BTC", "currency_long": "Bitcoin", "fee_precision": 4, "min_confirmations": 1,
                     "min_withdrawal_fee": 0.0001, "withdrawal_fee": 0.0001, "coin_type": "BITCOIN"}]
        if name == "public/get_instruments":
            return list(self.instruments.values())
        if name == "public/get_order_book":
            inst = p["instrument_name"]
            depth = int(p.get("depth", 20))
            return {"instrument_name": inst, "timestamp": _ms(), "change_id": self.change_id, "state": "open",
                    "bids": [[pr, a] for pr, a in sorted(self.bids[inst].items(), reverse=True)][:depth],
                    "asks": [[pr, a] for pr, a in sorted(self.asks[inst].items())][:depth]}
        if name == "public/ticker":
            return self._ticker(p["instrument_name"])
        if name in ("private/buy", "private/sell"):
            return await self._place(name.split("/")[1], p)
        if name == "private/edit":
            return await self._edit(p)
        if name == "private/cancel":
            order = self._order(p["order_id"])
            if order["order_state"] != "open":
                raise RpcError(11044, "not_open_order")
            order["order_state"] = "cancelled"
            order["last_update_timestamp"] = _ms()
            await self._publish("user.orders.any.any.raw", dict(order))
            return dict(order)
        if name in ("private/cancel_all_by_instrument", "private/cancel_all"):
            n = 0
            for order in self.orders.values():
                if order["order_state"] == "open" and p.get("instrument_name") in (None, order["instrument_name"]):
                    order["order_state"] = "cancelled"
                    n += 1
                    await self._publish("user.orders.any.any.raw", dict(order))
            return n
        if name == "private/get_open_orders_by_instrument":
            return [dict(o) for o in self.orders.values()
                    if o["order_state"] == "open" and o["instrument_name"] == p["instrument_name"]]
        if name == "private/get_order_state":
            return dict(self._order(p["order_id"]))
        if name == "private/get_order_state_by_label":
            return [dict(o) for o in self.orders.values() if o["label"] == p["label"]]
        if name in ("private/get_user_trades_by_instrument_and_time", "private/get_user_trades_by_instrument"):
            since = int(p.get("start_timestamp", 0))
            trades = [t for t in self.user_trades
                      if t["instrument_name"] == p["instrument_name"] and t["timestamp"] >= since]
            return {"trades": trades, "has_more": False}
        if name == "private/get_position":
            return self._position(p["instrument_name"])
        if name == "private/get_positions":
            return [self._position(i) for i in self.positions]
        if name in ("private/get_account_summaries", "private/get_account_summary"):
            summary = {"currency": "BTC", "equity": 1.5, "available_funds": 1.2, "maintenance_margin": 0.1,
                       "balance": 1.5, "initial_margin": 0.2}
            return summary if name.endswith("summary") else {"summaries": [summary]}
        raise RpcError(-32601, "Method not found")

    async def _place(self, direction: str, p: dict[str, str]) -> dict:
        self.placed.append(dict(p))
        inst = p["instrument_name"]
        if inst not in self.instruments:
            raise RpcError(10020, "invalid_or_unsupported_instrument")
        price, amount = float(p["price"]), float(p["amount"])
        tick = self.instruments[inst]["tick_size"]
        if abs(price / tick - round(price / tick)) > 1e-9:
            raise RpcError(10043, "price_wrong_tick")
        tif = p.get("time_in_force", "good_til_cancelled")
        if tif not in ("good_til_cancelled", "immediate_or_cancel", "fill_or_kill"):
            raise RpcError(-32602, "Invalid params")
        post_only = p.get("post_only") == "true"
        if post_only and self._crosses(inst, direction, price):
            raise RpcError(11054, "post_only_reject")
        oid = f"{inst.split('-')[0]}-{next(self._ids)}"
        now = _ms()
        order = {"order_id": oid, "instrument_name": inst, "direction": direction, "amount": amount,
                 "filled_amount": 0.0, "price": price, "average_price": 0.0, "order_state": "open",
                 "order_type": "limit", "time_in_force": tif, "post_only": post_only,
                 "reduce_only": p.get("reduce_only") == "true", "label": p.get("label", ""), "creation_timestamp": now,
                 "last_update_timestamp": now, "commission": 0.0, "api": True, "replaced": False, "is_liquidation": False,
                 "max_show": amount, "web": False, "mmp": False, "risk_reducing": False}
        self.orders[oid] = order
        trades = [] if post_only else await self._take(order)
        if tif != "good_til_cancelled" and order["order_state"] == "open":
            order.update(order_state="cancelled", last_update_timestamp=_ms())
        # one notification per channel for the whole matching: the order's state after it, its trades
        await self._publish("user.orders.any.any.raw", dict(order))
        if trades:
            await self._publish("user.trades.any.any.raw", trades)
        return {"order": dict(order), "trades": trades}

    async def _take(self, order: dict) -> list[dict]:
        """Match a new order against the opposite book up to its price (a ``fill_or_kill`` only if
        the book can fill it whole); returns our taker trades (not yet published)."""
        inst, direction, limit = order["instrument_name"], order["direction"], order["price"]
        book = self.asks[inst] if direction == "buy" else self.bids[inst]
        reachable = sorted((pr for pr in book if (pr <= limit if direction == "buy" else pr >= limit)),
                           reverse=direction == "sell")
        if order["time_in_force"] == "fill_or_kill" and sum(book[pr] for pr in reachable) < order["amount"]:
            return []
        trades = []
        for level in reachable:
            left = order["amount"] - order["filled_amount"]
            if left <= 0:
                break
            size = min(left, book[level])
            change = [(level, book[level] - size)]
            await self.book_change(inst, **({"asks": change} if direction == "buy" else {"bids": change}))
            await self._publish_prefix(f"trades.{inst}.", [{
                "trade_id": str(next(self._trade_ids)), "instrument_name": inst, "price": level, "amount": size,
                "direction": direction, "timestamp": _ms(), "trade_seq": 1, "tick_direction": 0, "mark_price": level,
                "index_price": level}])
            trades.append(await self.fill(order["order_id"], size, level, taker=True, publish=False))
        return trades

    async def _edit(self, p: dict[str, str]) -> dict:
        order = self._order(p["order_id"])
        if order["order_state"] != "open":
            raise RpcError(11044, "not_open_order")
        price = float(p["price"])
        if p.get("post_only") == "true" and self._crosses(order["instrument_name"], order["direction"], price):
            if self.edit_post_only_cancels is None:
                raise RpcError(11054, "post_only_reject")
            order.update(order_state="cancelled", cancel_reason="edit_post_only_reject", last_update_timestamp=_ms())
            await self._publish("user.orders.any.any.raw", dict(order))
            if self.edit_post_only_cancels == "error":
                raise RpcError(11054, "post_only_reject")
            return {"order": dict(order), "trades": []}
        order.update(price=price, amount=float(p["amount"]), last_update_timestamp=_ms(), replaced=True)
        await self._publish("user.orders.any.any.raw", dict(order))
        return {"order": dict(order), "trades": []}

    def _crosses(self, inst: str, direction: str, price: float) -> bool:
        if direction == "buy":
            return bool(self.asks.get(inst)) and price >= min(self.asks[inst])
        return bool(self.bids.get(inst)) and price <= max(self.bids[inst])

    def _order(self, oid: str) -> dict:
        if oid not in self.orders:
            raise RpcError(10004, "order_not_found")
        return self.orders[oid]

    def _position(self, inst: str) -> dict:
        size = self.positions[inst]
        direction = "buy" if size > 0 else "sell" if size < 0 else "zero"
        kind = self.instruments[inst]["kind"]
        delta = size / 60000.0 if kind == "future" else size * 0.42  # options: premium-adjusted delta
        return {"instrument_name": inst, "size": size, "direction": direction, "average_price": 60000.0 if size else 0,
                "delta": delta, "floating_profit_loss": 0.0, "realized_profit_loss": 0.0, "mark_price": 60000.25,
                "index_price": 60000.0, "kind": kind, "size_currency": size / 60000.0, "initial_margin": 0.0,
                "maintenance_margin": 0.0, "estimated_liquidation_price": None, "leverage": 50,
                "total_profit_loss": 0.0, "settlement_price": 60000.0}

    def _ticker(self, name: str) -> dict:
        data = {"instrument_name": name, "timestamp": _ms(), "state": "open", "mark_price": 60000.25,
                "index_price": 60000.0, "last_price": 60000.0, "best_bid_price": 60000.0, "best_ask_price": 60000.5,
                "best_bid_amount": 1000.0, "best_ask_amount": 1500.0, "open_interest": 1e9,
                "stats": {"volume": 1.0, "high": 61000.0, "low": 59000.0, "price_change": 0.1}}
        if self.instruments[name]["kind"] == "future":
            data |= {"funding_8h": 0.0001, "current_funding": 0.00001}
        else:
            data |= {"mark_price": 0.05, "mark_iv": 55.0, "bid_iv": 54.0, "ask_iv": 56.0, "underlying_price": 60100.0,
                     "underlying_index": "SYN.BTC-27DEC30", "interest_rate": 0.0,
                     "greeks": {"delta": 0.55, "gamma": 0.00002, "vega": 150.0, "theta": -40.0, "rho": 300.0}}
        return data

    # WebSocket ------------------------------------------------------------------------------------
    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        self.subscriptions[ws] = set()
        authed = False
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                req = json.loads(msg.data)
                method, rid, params = req.get("method"), req.get("id"), req.get("params") or {}
                self.requests.append(f"ws:{method}")
                if method == "public/auth":
                    try:
                        result = self._auth(params)
                    except RpcError as exc:
                        await ws.send_json({"jsonrpc": "2.0", "id": rid, "error": {"code": exc.code,
                                                                                  "message": exc.message}})
                        continue
                    authed = True
                    await ws.send_json({"jsonrpc": "2.0", "id": rid, "result": result})
                elif method in ("public/subscribe", "private/subscribe"):
                    if method == "private/subscribe" and not authed:
                        await ws.send_json({"jsonrpc": "2.0", "id": rid, "error": {"code": 13009,
                                                                                  "message": "unauthorized"}})
                        continue
                    channels = params.get("channels", [])
                    self.subscriptions[ws].update(channels)
                    await ws.send_json({"jsonrpc": "2.0", "id": rid, "result": channels})
                    for channel in channels:
                        await self._on_subscribe(ws, channel)
                else:
                    await ws.send_json({"jsonrpc": "2.0", "id": rid, "result": "ok"})
        finally:
            self.subscriptions.pop(ws, None)
            if ws in self.sockets:
                self.sockets.remove(ws)
        return ws

    async def _on_subscribe(self, ws: web.WebSocketResponse, channel: str) -> None:
        parts = channel.split(".")
        if parts[0] == "book" and parts[1] in self.bids:
            inst = parts[1]
            data = {"type": "snapshot", "timestamp": _ms(), "change_id": self.change_id, "instrument_name": inst,
                    "bids": [["new", p, a] for p, a in sorted(self.bids[inst].items(), reverse=True)],
                    "asks": [["new", p, a] for p, a in sorted(self.asks[inst].items())]}
            await _send(ws, channel, data)
        elif parts[0] == "ticker":
            await _send(ws, channel, self._ticker(parts[1]))

    async def _publish(self, channel: str, data: Any) -> None:
        for ws, channels in list(self.subscriptions.items()):
            if channel in channels:
                await _send(ws, channel, data)

    async def _publish_prefix(self, prefix: str, data: Any) -> None:
        for ws, channels in list(self.subscriptions.items()):
            for channel in channels:
                if channel.startswith(prefix):
                    await _send(ws, channel, data)


async def _send(ws: web.WebSocketResponse, channel: str, data: Any) -> None:
    if not ws.closed:
        await ws.send_json({"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}})


def _ms() -> int:
    return int(time.time() * 1000)
