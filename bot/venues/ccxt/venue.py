"""The ccxt venue adapter: a real exchange (Deribit, Binance USDⓈ-M) behind the
:class:`~bot.venues.base.Venue` interface.

* Market data streams through ccxt.pro (``watch_order_book``, ``watch_trades``, ``watch_ticker``);
  account data through ``watch_orders``, ``watch_my_trades``, ``watch_balance`` and
  ``watch_positions`` where ``has`` says so, REST polling otherwise (Deribit positions).
* Two ccxt instances: ``md`` (public, no keys) and ``acct`` (keys; REST order actions and private
  streams), so a market-data resync never tears down the account streams.
* Every stream runs in its own task; on any error the cached book is dropped, the loop backs off
  (jittered exponential) and resubscribes. A stream silent for ``stale_after_ms`` is stale: new
  orders and amends are refused until it recovers (cancels always go out).
* ccxt's Deribit client merges a fresh snapshot into the old book and ignores ``prev_change_id``;
  :class:`_Deribit` makes a snapshot replace the book and turns a change-id gap into
  ``InvalidNonce``, upon which the adapter reconnects the market-data client for a new snapshot.
* Errors are mapped to actions by :mod:`bot.venues.ccxt.errors`.
* Live ``connect`` refuses an API key that can withdraw funds where the venue reports it
  (Binance ``apiRestrictions.enableWithdrawals``, Deribit ``public/auth`` scope
  ``wallet:read_write``); where it cannot tell, it logs ``venue.permissions_unknown`` and goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import random
import time
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import ccxt
import ccxt.pro
from ccxt.async_support.base.ws.cache import ArrayCacheBySymbolById
from asyncio_throttle import Throttler

from bot.core.greeks.venue_conventions import VenueGreeks
from bot.core.recent import RecentIds
from bot.core.types import Book, FactorsUpdate, Fill, InstrumentSpec, MarketFactors, OrderStatus, OrderUpdate, Side
from bot.log import get_logger
from bot.venues.base import (
    AccountStreamRecovered, OptionGreeksUpdate, OrderNotFound, OrderRejected, OrderRequest, PositionDeltaUpdate,
    PostOnlyRejected, Venue, VenueError, VenueEvent, VenueOrder,
)
from bot.venues.ccxt import normalise as n
from bot.venues.ccxt.config import CcxtVenueConfig
from bot.venues.ccxt.streams import backoff_s, watch_forever
from bot.venues.ccxt.errors import Action, classify, is_post_only_reject, retry_after_s

MAX_SEEN_TRADES = 4096
_BOOK_LIMITS = {"deribit": (1, 5, 10, 20, 50, 100, 1000), "binanceusdm": (5, 10, 20, 50, 100, 500, 1000)}


class _Deribit(ccxt.pro.deribit):
    """ccxt.pro Deribit with book sequencing: a ``snapshot`` replaces the stored book instead of
    being merged into it, and a ``change`` whose ``prev_change_id`` is not the last ``change_id``
    rejects the watcher with :class:`ccxt.InvalidNonce` (the adapter then resubscribes); and with
    its own-trade cache kept (:meth:`handle_my_trades`)."""

    def __init__(self, config: dict | None = None):
        super().__init__(config or {})
        self.book_change_ids: dict[str, int] = {}
        self.book_gaps: dict[str, Exception] = {}   # seen while no watcher was waiting

    def handle_order_book(self, client, message):  # noqa: D401 - ccxt callback
        params = self.safe_dict(message, "params", {})
        data = self.safe_dict(params, "data", {})
        channel = self.safe_string(params, "channel", "")
        symbol = self.safe_symbol(self.safe_string(data, "instrument_name"))
        if data.get("type") == "snapshot":
            self.orderbooks.pop(symbol, None)
        else:
            last = self.book_change_ids.get(symbol)
            prev = data.get("prev_change_id")
            if last is None or prev != last:
                self.orderbooks.pop(symbol, None)
                self.book_change_ids.pop(symbol, None)
                parts = channel.split(".")
                descriptor = ".".join(parts[2:])
                error = ccxt.InvalidNonce(f"{self.id} {symbol} book gap: prev_change_id {prev}, last {last}")
                self.book_gaps[symbol] = error
                client.reject(error, f"book|{symbol}|{descriptor}")
                return
        self.book_change_ids[symbol] = data.get("change_id")
        super().handle_order_book(client, message)

    def handle_my_trades(self, client, message):  # noqa: D401 - ccxt callback
        """ccxt's Deribit handler never stores its trade cache (``myTrades``): each message
        resolves the watch with that message's trades only, so of a burst (messages handled before
        the watcher runs again) only the first reaches it. Kept, the cache is what the watch
        returns (the adapter skips the trades it has read)."""
        if self.myTrades is None:
            self.myTrades = ArrayCacheBySymbolById(self.safe_integer(self.options, "tradesLimit", 1000))
        super().handle_my_trades(client, message)


_CLASSES: dict[str, Callable[[dict], Any]] = {"deribit": _Deribit, "binanceusdm": ccxt.pro.binanceusdm}

_PERMISSION_SOURCES = {"binanceusdm": "GET /sapi/v1/account/apiRestrictions enableWithdrawals",
                       "deribit": "public/auth scope"}
_WITHDRAWAL_REFUSALS = {
    "binanceusdm": "binanceusdm: this API key can withdraw funds (apiRestrictions enableWithdrawals is true); "
                   "live trading refuses such a key: untick 'Enable Withdrawals' for it in Binance API "
                   "Management (or create a key without it) and restart",
    "deribit": "deribit: this API key can withdraw funds (its scope includes wallet:read_write); live trading "
               "refuses such a key: set the key's 'Wallet' permission to read (or none) in Deribit's API "
               "settings (or create a key without it) and restart",
}


def _deribit_auth_params(exchange: Any) -> dict[str, Any]:
    """``public/auth`` with the ``client_signature`` grant (the secret never leaves the process):
    HMAC-SHA256 of timestamp, nonce and data joined by newlines, keyed with the API secret, as ccxt
    signs its websocket login."""
    timestamp = exchange.milliseconds()
    nonce = f"{timestamp}{random.randrange(10**6):06d}"
    signature = hmac.new(exchange.secret.encode(), f"{timestamp}\n{nonce}\n".encode(), hashlib.sha256).hexdigest()
    return {"grant_type": "client_signature", "client_id": exchange.apiKey, "timestamp": timestamp,
            "signature": signature, "nonce": nonce, "data": ""}


def build_exchange(cfg: CcxtVenueConfig, credentials: Any | None = None) -> Any:
    """The ccxt.pro instance for ``cfg``: rate limiter on, the configured timeout, test network
    (``set_sandbox_mode``) and endpoint overrides (``cfg.urls``) applied; keys if given. Shared by
    the venue and the recorder (:mod:`bot.record`)."""
    options: dict[str, Any] = {"enableRateLimit": True, "timeout": cfg.request_timeout_ms, "verbose": cfg.verbose}
    if credentials is not None:
        options["apiKey"] = credentials.api_key.get_secret_value()
        options["secret"] = credentials.secret.get_secret_value()
        if getattr(credentials, "password", None) is not None:
            options["password"] = credentials.password.get_secret_value()
    exchange = _CLASSES[cfg.exchange](options)
    if cfg.testnet:
        try:
            exchange.set_sandbox_mode(True)
        except ccxt.NotSupported as exc:
            raise VenueError(f"{cfg.exchange}: ccxt has no test network for it ({exc})") from None
    if cfg.urls is not None:
        exchange.urls["api"] = _rebase(exchange.urls["api"], cfg.urls.rest, cfg.urls.ws)
    return exchange


@dataclass(slots=True)
class _Tracked:
    """What the adapter knows about one of our orders (sizes in contracts)."""

    symbol: str
    side: Side
    price: Decimal
    size: Decimal
    venue_id: str | None = None
    filled: Decimal = Decimal(0)
    fill_sum: Decimal = Decimal(0)   # sum of the fills seen on the trade stream
    status: OrderStatus = OrderStatus.PENDING


class CcxtVenue:
    """A real exchange account through ccxt; ``trading=False`` streams public market data only
    (paper mode on live data: no keys, no order actions)."""

    books_include_own_orders = True  # our resting orders are in the venue's public book

    def __init__(
        self,
        cfg: CcxtVenueConfig,
        credentials: Any | None = None,
        *,
        trading: bool = True,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ):
        self.name = cfg.exchange
        self._cfg = cfg
        self._clock = clock
        self._rng = rng or random.Random()
        self._log = get_logger(venue=cfg.exchange)
        self._trading = trading
        if trading and credentials is None:
            raise VenueError(f"{cfg.exchange}: order actions need credentials (api_key, secret)")
        self.md = self._make_exchange(None)
        self.acct = self._make_exchange(credentials) if trading else None
        self.supports_amend = bool((self.acct or self.md).has.get("editOrder"))
        self._queue: asyncio.Queue[VenueEvent] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._symbols: list[str] = []
        self._options: set[str] = set()        # symbols (traded or Greeks-only) whose market is an option
        self._unified: dict[str, str] = {}      # engine symbol -> ccxt unified symbol
        self._engine_symbol: dict[str, str] = {}  # ccxt unified symbol -> engine symbol
        self._specs: dict[str, InstrumentSpec] = {}
        self._units: dict[str, n.Units] = {}
        self._books: dict[str, Book] = {}
        self._last_update: dict[tuple[str, str], float] = {}
        self._halted: dict[str, str] = {}
        self._cooldown_until = 0.0
        self._order_budget = Throttler(rate_limit=cfg.order_actions_per_s, period=1.0)
        self._orders: dict[str, _Tracked] = {}
        self._by_venue_id: dict[str, str] = {}
        self._unknown_sends: set[str] = set()
        self._abandoned: set[str] = set()
        self._seen_trades = RecentIds(MAX_SEEN_TRADES)
        self._seen_fills = RecentIds(MAX_SEEN_TRADES)
        self._read_trades = RecentIds(MAX_SEEN_TRADES)   # own trades read (stream, order answers)
        self.greeks: dict[str, VenueGreeks] = {}
        self.positions: dict[str, n.NormalisedPosition] = {}
        self.factors: dict[str, MarketFactors] = {}
        self.balances: dict[str, Decimal] = {}

    @classmethod
    def from_config(cls, cfg: CcxtVenueConfig, credentials: Any | None, mode: str, *,
                    store: Any | None = None, clock: Callable[[], float] = time.time) -> Venue:
        """The venue for ``mode``: ``live`` trades on the exchange with ``credentials``; ``paper``
        streams the exchange's public market data (no keys) and matches orders locally with the
        simulated exchange's fill model (``store`` persists the paper account, as for the
        simulated venue)."""
        if mode == "live":
            return cls(cfg, credentials, trading=True, clock=clock)
        if mode == "paper":
            from bot.venues.ccxt.paper import PaperVenue
            return PaperVenue(cls(cfg, None, trading=False, clock=clock), store=store, clock=clock)
        raise ValueError(f"unknown mode {mode!r} (expected 'paper' or 'live')")

    # construction -----------------------------------------------------------------------------
    def _make_exchange(self, credentials: Any | None) -> Any:
        return build_exchange(self._cfg, credentials)

    # connection -------------------------------------------------------------------------------
    async def connect(self, symbols: list[str]) -> None:
        try:
            await self._load_markets()
        except ccxt.BaseError as exc:
            raise VenueError(f"{self.name}: cannot load markets ({type(exc).__name__}: {exc})") from None
        if self.acct is not None:
            try:
                await self._refuse_withdrawal_keys()
            except VenueError:
                await self.close()
                raise
        unknown = [s for s in [*symbols, *self._cfg_greeks_symbols()] if self._resolve(s) is None]
        if unknown:
            raise VenueError(f"{self.name} has no instrument {', '.join(unknown)}")
        for symbol in symbols:
            market = self._resolve(symbol)
            self._engine_symbol[market["symbol"]] = symbol   # routes streamed orders, fills and positions
            self._specs[symbol] = n.spec_from_market(symbol, market)
        greeks_only = self._cfg_greeks_symbols()
        for symbol in [*symbols, *greeks_only]:
            market = self._resolve(symbol)
            self._unified[symbol] = market["symbol"]
            self._units[symbol] = n.units(market)
            if market.get("option"):
                self._options.add(symbol)
        self._symbols = list(symbols)
        for symbol in symbols:
            self._spawn(f"book:{symbol}", self._book_loop(symbol))
            self._spawn(f"trades:{symbol}", self._trades_loop(symbol))
            self._spawn(f"ticker:{symbol}", self._ticker_loop(symbol))
        for symbol in greeks_only:
            self._spawn(f"ticker:{symbol}", self._ticker_loop(symbol))
        if self.acct is not None:
            self._spawn("orders", self._account_loop("orders", self._watch_orders, self._on_orders))
            self._spawn("my_trades", self._account_loop("my_trades", self._watch_my_trades, self._on_my_trades))
            self._spawn("balance", self._account_loop("balance", self.acct.watch_balance, self._on_balance))
            if self.acct.has.get("watchPositions"):
                self._spawn("positions", self._account_loop("positions", self._watch_positions, self._on_positions))
            else:
                self._spawn("positions", self._poll_positions())

    # key permissions ----------------------------------------------------------------------------
    async def _refuse_withdrawal_keys(self) -> None:
        """Live trading refuses a key that can withdraw funds, where the venue says so: Binance's
        ``GET /sapi/v1/account/apiRestrictions`` (``enableWithdrawals``), Deribit's ``public/auth``
        ``scope`` (``wallet:read_write``; asked over REST with the ``client_signature`` grant).
        Where the venue cannot tell (endpoint missing, denied or unreachable, or no such field),
        ``venue.permissions_unknown`` is logged and trading goes on."""
        try:
            can_withdraw, source = await self._withdrawal_permission()
        except (ccxt.BaseError, asyncio.TimeoutError, KeyError, TypeError) as exc:
            self._log.warning("venue.permissions_unknown", check=_PERMISSION_SOURCES[self.name],
                              error=f"{type(exc).__name__}: {str(exc)[:200]}",
                              hint="make sure the API key cannot withdraw funds")
            return
        if can_withdraw is None:
            self._log.warning("venue.permissions_unknown", check=source,
                              error="the venue's answer does not say whether the key can withdraw",
                              hint="make sure the API key cannot withdraw funds")
            return
        if can_withdraw:
            raise VenueError(_WITHDRAWAL_REFUSALS[self.name])
        self._log.info("venue.permissions_checked", check=source, withdrawals=False)

    async def _withdrawal_permission(self) -> tuple[bool | None, str]:
        """(whether the key can withdraw, None if the answer does not say; what was asked)."""
        acct = self.acct
        timeout = self._cfg.request_timeout_ms / 1000
        attempt = 0
        while True:
            try:
                if self.name == "binanceusdm":
                    answer = await asyncio.wait_for(acct.sapi_get_account_apirestrictions(), timeout)
                    flag = answer.get("enableWithdrawals") if isinstance(answer, dict) else None
                    return (None if flag is None else flag in (True, "true")), _PERMISSION_SOURCES[self.name]
                # Deribit: public/auth (client_signature grant, as ccxt's websocket login) over REST,
                # whose answer names the key's scope; errors come back at once as HTTP errors
                answer = await asyncio.wait_for(acct.publicGetAuth(_deribit_auth_params(acct)), timeout)
                result = answer.get("result") if isinstance(answer, dict) else None
                scope = result.get("scope") if isinstance(result, dict) else None
                if not isinstance(scope, str):
                    return None, _PERMISSION_SOURCES[self.name]
                return "wallet:read_write" in scope.split(), _PERMISSION_SOURCES[self.name]
            except (ccxt.NetworkError, asyncio.TimeoutError) as exc:
                # transient (not a rate limit, not a ban): retry a few times, then "cannot tell"
                if classify(exc) is not Action.RETRY or attempt >= self._cfg.max_retries:
                    raise
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1

    def _cfg_greeks_symbols(self) -> list[str]:
        return [s for s in self._cfg.greeks_symbols if s not in self._specs]

    def _polled_positions(self) -> list[str]:
        """Whose positions are polled: the traded symbols, and the options streamed for Greeks (their
        venue-reported position delta goes to the portfolio)."""
        return [*self._symbols, *(s for s in self._cfg_greeks_symbols() if s in self._options)]

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for exchange in (self.md, self.acct):
            if exchange is not None:
                with contextlib.suppress(Exception):
                    await exchange.close()

    async def events(self) -> AsyncIterator[VenueEvent]:
        while True:
            yield await self._queue.get()

    def _spawn(self, name: str, coro: Awaitable[None]) -> None:
        self._tasks.append(asyncio.create_task(coro, name=f"{self.name}:{name}"))

    # markets ----------------------------------------------------------------------------------
    def _cache_path(self) -> Path:
        if self._cfg.markets_cache is not None:
            return self._cfg.markets_cache
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        suffix = "-testnet" if self._cfg.testnet else ""
        return root / "scalebot" / f"{self.name}{suffix}-markets.json"

    async def _load_markets(self) -> None:
        """From the cache when it is fresh enough (a restart does not wait on the venue), else from
        the venue; a cache hit is refreshed in the background."""
        path = self._cache_path()
        cached = None
        with contextlib.suppress(OSError, ValueError):
            if time.time() - path.stat().st_mtime < self._cfg.markets_cache_max_age_s:
                cached = json.loads(path.read_text())
        if cached:
            for exchange in self._exchanges():
                exchange.set_markets(cached["markets"], cached.get("currencies") or None)
            self._spawn("markets-refresh", self._refresh_markets())
            return
        await self.md.load_markets()
        if self.acct is not None:
            self.acct.set_markets(self.md.markets, self.md.currencies)
        self._write_cache()

    async def _refresh_markets(self) -> None:
        try:
            await self.md.load_markets(reload=True)
        except Exception as exc:
            self._log.warning("venue.markets_refresh_failed", error=f"{type(exc).__name__}: {exc}")
            return
        if self.acct is not None:
            self.acct.set_markets(self.md.markets, self.md.currencies)
        self._write_cache()

    def _write_cache(self) -> None:
        path = self._cache_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"markets": self.md.markets, "currencies": self.md.currencies or {}}))
            tmp.replace(path)
        except (OSError, TypeError, ValueError) as exc:
            self._log.warning("venue.markets_cache_unwritable", path=str(path), error=str(exc))

    def _exchanges(self) -> list[Any]:
        return [e for e in (self.md, self.acct) if e is not None]

    def _resolve(self, symbol: str) -> dict | None:
        markets = self.md.markets or {}
        if symbol in markets:
            return markets[symbol]
        by_id = (self.md.markets_by_id or {}).get(symbol)
        return by_id[0] if by_id else None

    # health -----------------------------------------------------------------------------------
    def _touch(self, stream: str, symbol: str) -> None:
        self._last_update[(stream, symbol)] = time.monotonic()

    def is_stale(self, symbol: str) -> bool:
        """No book update for ``stale_after_ms`` (or none yet)."""
        last = self._last_update.get(("book", symbol))
        return last is None or time.monotonic() - last > self._cfg.stale_after_ms / 1000

    def halted(self, symbol: str) -> str | None:
        return self._halted.get(symbol) or self._halted.get("*")

    def _halt(self, symbol: str | None, exc: BaseException) -> None:
        key = symbol or "*"
        if key not in self._halted:
            self._halted[key] = f"{type(exc).__name__}: {exc}"
            self._log.error("venue.alert", action="halt_instrument", instrument=key, error=type(exc).__name__,
                            detail=str(exc)[:300])

    def _cool_down(self, exchange: Any, exc: BaseException, action: Action) -> float:
        default = (self._cfg.ban_cooldown_ms if action is Action.BANNED else self._cfg.rate_limit_cooldown_ms) / 1000
        delay = max(default, retry_after_s(exc, getattr(exchange, "last_response_headers", None)) or 0.0)
        self._cooldown_until = max(self._cooldown_until, time.monotonic() + delay)
        self._log.warning("venue.rate_limited", action=action.value, pause_s=round(delay, 3), error=str(exc)[:200])
        return delay

    def cooldown_remaining(self) -> float:
        return max(0.0, self._cooldown_until - time.monotonic())

    def _backoff(self, attempt: int) -> float:
        return backoff_s(self._cfg.reconnect, attempt, self._rng)

    def _check_can_trade(self, symbol: str) -> None:
        """Pre-send refusals (nothing is sent, so the outcome is known: rejected)."""
        if self.acct is None:
            raise OrderRejected(f"{self.name}: market data only (no order actions in this mode)")
        if symbol not in self._specs:
            raise OrderRejected(f"{symbol}: not connected")
        reason = self.halted(symbol)
        if reason:
            raise OrderRejected(f"{symbol} halted: {reason}")
        if self.is_stale(symbol):
            raise OrderRejected(f"{symbol}: market data stale (no book update for {self._cfg.stale_after_ms} ms)")
        remaining = self.cooldown_remaining()
        if remaining > 0:
            raise OrderRejected(f"{self.name}: rate-limit cool-down, {remaining:.1f} s left")

    # streams ----------------------------------------------------------------------------------
    async def _stream(self, name: str, symbol: str, watch: Callable[[], Awaitable[Any]],
                      handle: Callable[[Any], None], on_error: Callable[[Action], Awaitable[None]] | None = None) -> None:
        def on_result(result: Any) -> None:
            self._touch(name, symbol)
            handle(result)

        async def failed(action: Action, error: BaseException) -> None:
            if on_error is not None:
                await on_error(action)
            if action is Action.HALT:
                self._halt(symbol if symbol != "*" else None, error)

        def resumed() -> None:  # an account stream is back: updates may be missing
            self._queue.put_nowait(AccountStreamRecovered("*", self._clock()))

        await watch_forever(watch, on_result, failed, self._backoff, self._log,
                            events=("venue.stream_error", "venue.stream_message_failed"), stream=name,
                            instrument=symbol, on_resumed=resumed if symbol == "*" else None)

    async def _book_loop(self, symbol: str) -> None:
        unified = self._unified[symbol]
        limit = self._cfg.book_depth if self.name == "binanceusdm" else None

        def handle(orderbook: Any) -> None:
            book = n.book_from_ccxt(symbol, orderbook, self._units[symbol], self._cfg.book_depth, self._clock())
            self._books[symbol] = book
            self._queue.put_nowait(book)

        async def watch() -> Any:
            gap = getattr(self.md, "book_gaps", {}).pop(unified, None)
            if gap is not None:  # a gap flagged while no watcher was waiting for the book
                raise gap
            return await self.md.watch_order_book(unified, limit)

        async def on_error(action: Action) -> None:
            self._drop_book(symbol)
            if action is Action.RESYNC_BOOK:
                getattr(self.md, "book_gaps", {}).pop(unified, None)
                await self._reset_ws(self.md)

        await self._stream("book", symbol, watch, handle, on_error)

    def _drop_book(self, symbol: str) -> None:
        unified = self._unified[symbol]
        self.md.orderbooks.pop(unified, None)
        if isinstance(self.md, _Deribit):
            self.md.book_change_ids.pop(unified, None)
        self._books.pop(symbol, None)
        self._last_update.pop(("book", symbol), None)

    async def _reset_ws(self, exchange: Any) -> None:
        """Close the websocket clients: the next watch reconnects and resubscribes (a fresh
        snapshot for every book); the other streams on the client see an error and resubscribe."""
        for url, client in list(exchange.clients.items()):
            with contextlib.suppress(Exception):
                await client.close()
            exchange.clients.pop(url, None)
        for s in self._symbols:
            exchange.orderbooks.pop(self._unified[s], None)
        if isinstance(exchange, _Deribit):
            exchange.book_change_ids.clear()

    async def _trades_loop(self, symbol: str) -> None:
        unified = self._unified[symbol]

        def handle(trades: Any) -> None:
            for raw in trades:
                key = f"{symbol}:{raw.get('id')}"
                if key in self._seen_trades:
                    continue
                self._seen_trades.add(key)
                trade = n.trade_from_ccxt(symbol, raw, self._units[symbol])
                if trade is not None:
                    self._queue.put_nowait(trade)

        await self._stream("trades", symbol, lambda: self.md.watch_trades(unified), handle)

    async def _ticker_loop(self, symbol: str) -> None:
        unified = self._unified[symbol]
        market = self._resolve(symbol) or {}

        def handle(ticker: Any) -> None:
            ts = self._clock()
            factors = self.factors[symbol] = n.factors_from_ticker(ticker, self._units[symbol])
            self._queue.put_nowait(FactorsUpdate(symbol, factors, ts))
            if market.get("option") and self.name == "deribit":
                greeks = self.md.parse_greeks(ticker.get("info") or {}, market)
                venue_greeks = self.greeks[symbol] = n.greeks_from_ccxt(greeks, market, ts)
                self._queue.put_nowait(OptionGreeksUpdate(symbol, venue_greeks, ts))  # the Greeks layer's venue source

        await self._stream("ticker", symbol, lambda: self.md.watch_ticker(unified), handle)

    async def _account_loop(self, name: str, watch: Callable[[], Awaitable[Any]], handle: Callable[[Any], None]) -> None:
        await self._stream(name, "*", watch, handle)

    async def _watch_orders(self) -> Any:
        return await self.acct.watch_orders()

    async def _watch_my_trades(self) -> Any:
        return await self.acct.watch_my_trades()

    async def _watch_positions(self) -> Any:
        return await self.acct.watch_positions([self._unified[s] for s in self._symbols])

    def _on_orders(self, orders: Any) -> None:
        for order in orders:
            cid = n.client_order_id(self.name, order)
            symbol = self._engine_symbol.get(order.get("symbol") or "")
            if cid is None or symbol is None:
                continue
            update = self._order_update(symbol, cid, order, "stream")
            self._queue.put_nowait(update)
            if cid in self._abandoned and update.status.is_live:
                self._spawn(f"cancel-abandoned:{cid}", self._cancel_quietly(symbol, cid))

    def _on_my_trades(self, trades: Any) -> None:
        for trade in trades:
            key = _trade_key(trade)
            if key is not None:
                if key in self._read_trades:
                    continue
                self._read_trades.add(key)
            symbol = self._engine_symbol.get(trade.get("symbol") or "")
            if symbol is None:
                continue
            fill = self._fill(symbol, trade)
            if fill is None or fill.trade_id in self._seen_fills:
                continue
            self._seen_fills.add(fill.trade_id)
            tracked = self._orders.get(fill.client_order_id)
            status, filled, venue_id = OrderStatus.OPEN, fill.size, trade.get("order")
            if tracked is not None:
                tracked.fill_sum += fill.size
                tracked.filled = filled = max(tracked.filled, tracked.fill_sum)
                status = OrderStatus.FILLED if tracked.filled >= tracked.size else OrderStatus.OPEN
                if not tracked.status.is_live and status is OrderStatus.OPEN:
                    status = tracked.status  # e.g. an IOC the venue already ended: no more fills coming
            self._queue.put_nowait(OrderUpdate(symbol, fill.client_order_id, status, filled, venue_id, "fill",
                                               fill=fill, ts=fill.ts))

    def _on_balance(self, balance: Any) -> None:
        for code, total in (balance.get("total") or {}).items():
            if total is not None:
                self.balances[code] = n.dec(total)

    def _on_positions(self, positions: Any) -> None:
        for position in positions:
            symbol = self._engine_symbol.get(position.get("symbol") or "")
            if symbol is not None:
                self._set_position(symbol, n.position_from_ccxt(self.name, symbol, position, self._units[symbol]))

    def _set_position(self, symbol: str, position: n.NormalisedPosition) -> None:
        """Keep ``position``; for an option, pass the venue's delta of it (Deribit: premium-adjusted,
        coins) to the portfolio as a :class:`PositionDeltaUpdate` (size in coins: contracts ×
        contract size, an option's amount unit being the coin)."""
        self.positions[symbol] = position
        if symbol in self._options and position.delta_coin is not None:
            size_coin = float(position.size * self._units[symbol].contract_size)
            self._queue.put_nowait(PositionDeltaUpdate(symbol, position.delta_coin, size_coin, self._clock()))

    async def _poll_positions(self) -> None:
        """REST fallback where the venue has no position stream (Deribit)."""
        while True:
            for symbol in self._polled_positions():
                with contextlib.suppress(VenueError):
                    await self.fetch_position(symbol)
            await asyncio.sleep(self._cfg.position_poll_ms / 1000)

    # conversions --------------------------------------------------------------------------------
    def _order_update(self, symbol: str, cid: str, order: dict, reason: str) -> OrderUpdate:
        u = self._units[symbol]
        status = n.order_status(order)
        filled = u.contracts(order.get("filled") or 0)
        post_only = n.post_only_rejection(self.name, order)
        if post_only is not None:  # ended by the venue, the reason only in ``info``: one event for the engine
            reason = post_only
            status = OrderStatus.REJECTED if filled == 0 else status
        venue_id = order.get("id")
        tracked = self._orders.get(cid)
        if tracked is None and order.get("side") in ("buy", "sell"):
            tracked = self._orders[cid] = _Tracked(symbol, Side(order["side"]), n.dec(order.get("price")),
                                                   u.contracts(order.get("amount") or 0))
        if tracked is not None:
            tracked.venue_id = venue_id or tracked.venue_id
            if tracked.status.is_live or not status.is_live:  # a late "open" does not revive an ended order
                tracked.status = status
            tracked.filled = max(tracked.filled, filled)
            if order.get("price"):
                tracked.price = n.dec(order["price"])
        if venue_id:
            self._by_venue_id[str(venue_id)] = cid
        ts = (order.get("lastUpdateTimestamp") or order.get("timestamp") or 0) / 1000 or self._clock()
        return OrderUpdate(symbol, cid, status, filled, venue_id, reason, ts=ts,
                           post_only_rejected=post_only is not None)

    def _venue_order(self, symbol: str, cid: str, order: dict) -> VenueOrder:
        u = self._units[symbol]
        update = self._order_update(symbol, cid, order, "")
        return VenueOrder(symbol, cid, Side(order["side"]), n.dec(order.get("price")),
                          u.contracts(order.get("amount") or 0), update.filled, update.status, update.venue_order_id)

    def _fill(self, symbol: str, trade: dict) -> Fill | None:
        cid = self._by_venue_id.get(str(trade.get("order"))) or n.client_order_id(self.name, trade)
        if cid is None or trade.get("side") not in ("buy", "sell"):
            return None
        return n.fill_from_ccxt(symbol, cid, trade, self._units[symbol], self._specs[symbol].settle)

    # REST -----------------------------------------------------------------------------------------
    async def _read(self, exchange: Any, what: str, call: Callable[[], Awaitable[Any]], symbol: str | None = None) -> Any:
        """An idempotent request: waits out a cool-down, retries transient errors with backoff."""
        attempt = 0
        while True:
            remaining = self.cooldown_remaining()
            if remaining > self._cfg.request_timeout_ms / 1000:
                raise VenueError(f"{self.name} {what}: rate-limit cool-down, {remaining:.1f} s left")
            if remaining > 0:
                await asyncio.sleep(remaining)
            try:
                return await call()
            except ccxt.OrderNotFound as exc:
                raise OrderNotFound(str(exc)) from None
            except (ccxt.BaseError, asyncio.TimeoutError) as exc:
                action = classify(exc)
                if action in (Action.SLOW_DOWN, Action.BANNED):
                    self._cool_down(exchange, exc, action)
                elif action is Action.HALT:
                    self._halt(symbol, exc)
                    raise VenueError(f"{self.name} {what}: {exc}") from None
                if action not in (Action.RETRY, Action.SLOW_DOWN) or attempt >= self._cfg.max_retries:
                    raise VenueError(f"{self.name} {what}: {type(exc).__name__}: {exc}") from None
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1

    def _exchange_for_account(self) -> Any:
        if self.acct is None:
            raise VenueError(f"{self.name}: account calls need credentials (market data only in this mode)")
        return self.acct

    # Venue interface --------------------------------------------------------------------------------
    async def instrument(self, symbol: str) -> InstrumentSpec:
        try:
            return self._specs[symbol]
        except KeyError:
            raise VenueError(f"{symbol}: not connected") from None

    async def fetch_book(self, symbol: str, depth: int = 10) -> Book:
        unified = self._unified[symbol]
        limit = next((x for x in _BOOK_LIMITS[self.name] if x >= depth), None)
        ob = await self._read(self.md, "fetch_book", lambda: self.md.fetch_order_book(unified, limit), symbol)
        return n.book_from_ccxt(symbol, ob, self._units[symbol], depth, self._clock())

    async def fetch_position(self, symbol: str) -> Decimal:
        acct = self._exchange_for_account()
        unified = self._unified[symbol]
        if self.name == "deribit":
            raw = await self._read(acct, "fetch_position", lambda: acct.fetch_position(unified), symbol)
            positions = [raw] if raw else []
        else:
            positions = await self._read(acct, "fetch_positions", lambda: acct.fetch_positions([unified]), symbol)
        total = Decimal(0)
        for raw in positions:
            if raw.get("symbol") not in (unified, None):
                continue
            position = n.position_from_ccxt(self.name, symbol, raw, self._units[symbol])
            self._set_position(symbol, position)
            total += position.size
        return total

    async def fetch_balances(self) -> dict[str, Decimal]:
        acct = self._exchange_for_account()
        balance = await self._read(acct, "fetch_balance", acct.fetch_balance)
        return {code: n.dec(total) for code, total in (balance.get("total") or {}).items() if total}

    async def fetch_open_orders(self, symbol: str) -> list[VenueOrder]:
        acct = self._exchange_for_account()
        unified = self._unified[symbol]
        orders = await self._read(acct, "fetch_open_orders", lambda: acct.fetch_open_orders(unified), symbol)
        result = []
        for order in orders:
            cid = n.client_order_id(self.name, order)
            if cid is None:
                self._log.warning("venue.foreign_order", instrument=symbol, venue_order_id=order.get("id"))
                continue
            result.append(self._venue_order(symbol, cid, order))
        return result

    async def fetch_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        try:
            order = await self._find_order(symbol, client_order_id)
        except OrderNotFound:
            if client_order_id in self._unknown_sends:
                self._abandoned.add(client_order_id)  # if it ever shows up, cancel it
            raise
        return self._venue_order(symbol, client_order_id, order)

    async def _find_order(self, symbol: str, cid: str) -> dict:
        """The ccxt order for ``cid``: by venue id when known, else by Deribit label / Binance
        ``origClientOrderId``; raises :class:`OrderNotFound`."""
        acct = self._exchange_for_account()
        unified = self._unified[symbol]
        tracked = self._orders.get(cid)
        if tracked is not None and tracked.venue_id:
            return await self._read(acct, "fetch_order", lambda: acct.fetch_order(tracked.venue_id, unified), symbol)
        if self.name == "deribit":
            market = acct.market(unified)
            request = {"currency": market["settleId"] or market["baseId"], "label": cid}
            response = await self._read(acct, "fetch_order", lambda: acct.privateGetGetOrderStateByLabel(request), symbol)
            found = [acct.parse_order(o, market) for o in acct.safe_list(response, "result", [])]
            found = [o for o in found if n.client_order_id(self.name, o) == cid]
            if not found:
                raise OrderNotFound(f"{self.name}: no order labelled {cid}")
            return found[-1]
        return await self._read(acct, "fetch_order",
                                lambda: acct.fetch_order(None, unified, {"origClientOrderId": cid}), symbol)

    async def fetch_fills(self, symbol: str, since_ts: float) -> list[Fill]:
        acct = self._exchange_for_account()
        unified = self._unified[symbol]
        since = max(0, int(since_ts * 1000))
        trades = await self._read(acct, "fetch_fills", lambda: acct.fetch_my_trades(unified, since), symbol)
        fills = []
        for trade in trades:
            if str(trade.get("order")) not in self._by_venue_id and n.client_order_id(self.name, trade) is None:
                with contextlib.suppress(VenueError):  # learn the client id of an order we did not see
                    order = await self._read(acct, "fetch_order", lambda: acct.fetch_order(trade["order"], unified))
                    cid = n.client_order_id(self.name, order)
                    if cid:
                        self._by_venue_id[str(trade["order"])] = cid
            fill = self._fill(symbol, trade)
            if fill is not None and fill.ts >= since_ts:
                fills.append(fill)
        return sorted(fills, key=lambda f: f.ts)

    async def place_order(self, request: OrderRequest, *, reduce_only: bool = False) -> OrderUpdate:
        """A limit order with ccxt's unified params (:func:`normalise.order_params`): a resting
        order is post-only GTC; an IOC (``time_in_force`` "IOC", never post-only: refused before
        sending) trades what the book has up to its price and the venue cancels the rest, so the
        answer may already be terminal: ``CANCELLED`` (Binance ``EXPIRED``, Deribit ``cancelled``)
        or ``FILLED`` with the amount filled; the fills come on the trade stream as usual."""
        symbol, cid = request.symbol, request.client_order_id
        try:
            params = n.order_params(self.name, cid, post_only=request.post_only,
                                    time_in_force=request.time_in_force,
                                    reduce_only=request.reduce_only or reduce_only)
        except ValueError as exc:
            raise OrderRejected(f"{symbol} {cid}: {exc}") from None
        self._check_can_trade(symbol)
        acct = self.acct
        unified = self._unified[symbol]
        amount, price = self._on_grid(symbol, request.size, request.price)
        self._orders[cid] = _Tracked(symbol, request.side, request.price, request.size)
        async with self._order_budget:
            try:
                order = await acct.create_order(unified, "limit", request.side.value, amount, price, params)
            except (ccxt.BaseError, asyncio.TimeoutError) as exc:
                return await self._place_failed(request, exc)
        update = self._order_update(symbol, cid, order, "accepted")
        self._on_my_trades(order.get("trades") or [])  # fills in the answer (Deribit): as events, once each
        if request.time_in_force == "IOC" and update.status is OrderStatus.CANCELLED:
            filled, size = update.filled.normalize(), request.size.normalize()
            update = replace(update, reason=f"ioc: filled {filled:f} of {size:f}, rest cancelled")
        if update.post_only_rejected and not update.status.is_live:
            self._orders.pop(cid, None)
            raise PostOnlyRejected(update.reason)
        if update.status is OrderStatus.REJECTED:
            self._orders.pop(cid, None)
            raise OrderRejected(update.reason or f"{self.name} rejected {cid}")
        return update

    def _refuse(self, symbol: str, action: Action, exc: BaseException, what: str) -> None:
        """Raise :class:`OrderRejected` for the outcomes that are a known refusal (rate limit or
        ban: cool down; credentials: halt; the venue said no), :class:`PostOnlyRejected` where the
        venue said no because a post-only order or amend would have crossed (Binance -5022,
        Deribit 11054); return for the others."""
        if action in (Action.SLOW_DOWN, Action.BANNED):
            self._cool_down(self.acct, exc, action)
            raise OrderRejected(f"rate limited, {what}: {exc}")
        if action is Action.HALT:
            self._halt(symbol, exc)
            raise OrderRejected(f"{symbol} halted: {exc}")
        if action is Action.REJECTED:
            raise PostOnlyRejected(str(exc)) if is_post_only_reject(exc) else OrderRejected(str(exc))

    async def _place_failed(self, request: OrderRequest, exc: BaseException) -> OrderUpdate:
        symbol, cid = request.symbol, request.client_order_id
        action = classify(exc, placing=True)
        self._log.warning("venue.place_failed", instrument=symbol, client_order_id=cid, action=action.value,
                          error=f"{type(exc).__name__}: {str(exc)[:200]}")
        if action is Action.RECONCILE:
            self._unknown_sends.add(cid)
            return await self._reconcile_place(request, exc)
        self._orders.pop(cid, None)
        self._refuse(symbol, action, exc, "not sent")
        raise VenueError(f"{type(exc).__name__}: {exc}")

    async def _reconcile_place(self, request: OrderRequest, exc: BaseException) -> OrderUpdate:
        """A send with an unknown outcome: look the order up by its client id instead of resending."""
        deadline = time.monotonic() + self._cfg.place_reconcile_ms / 1000
        while True:
            try:
                order = await self._find_order(request.symbol, request.client_order_id)
            except OrderNotFound:
                pass
            except VenueError as again:
                self._log.warning("venue.reconcile_failed", client_order_id=request.client_order_id, error=str(again))
            else:
                self._unknown_sends.discard(request.client_order_id)
                self._log.info("venue.place_reconciled", client_order_id=request.client_order_id,
                               venue_order_id=order.get("id"))
                return self._order_update(request.symbol, request.client_order_id, order, "accepted (after timeout)")
            if time.monotonic() >= deadline:
                raise VenueError(f"outcome unknown after {type(exc).__name__}: {exc}")
            await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    def _on_grid(self, symbol: str, size: Decimal, price: Decimal) -> tuple[float, float]:
        """Final check (the planner already put price and size on the grid): ccxt's own rounding
        must not change them."""
        unified = self._unified[symbol]
        amount = self._units[symbol].amount(size)
        amount_s = self.acct.amount_to_precision(unified, str(amount))
        price_s = self.acct.price_to_precision(unified, str(price))
        if Decimal(amount_s) != amount or Decimal(price_s) != price:
            raise OrderRejected(f"{symbol}: size {size} / price {price} not on the venue grid "
                                f"(ccxt rounds to amount {amount_s}, price {price_s})")
        return float(amount_s), float(price_s)

    async def amend_order(self, symbol: str, client_order_id: str, price: Decimal) -> OrderUpdate:
        """Move a resting order to ``price`` in place with ccxt's ``edit_order`` (Deribit
        ``private/edit`` post-only; Binance ``PUT /fapi/v1/order``), keeping its venue and client
        ids; the quantity sent is the order's whole size (contracts × contract size). Where the
        venue has no ``editOrder``, ``supports_amend`` is False and the engine cancels and replaces.

        Outcomes: the order's new state (reason ``amended``); a terminal state where the venue ended
        the order instead (Binance expires a GTX order the new price would cross, Deribit cancels
        with ``edit_post_only_reject``: flagged ``post_only_rejected``); :class:`PostOnlyRejected`
        where the venue refused because the new price would cross and the order stays (Deribit
        ``post_only_reject``), :class:`OrderRejected` for another refusal; after an unknown outcome
        or an order the venue no longer knows as open (Binance -2013), the venue's current state,
        looked up, never resent."""
        self._check_can_trade(symbol)
        tracked = self._orders.get(client_order_id)
        if tracked is None or tracked.venue_id is None:
            venue_order = await self.fetch_order(symbol, client_order_id)
            tracked = self._orders[client_order_id]
            if not venue_order.status.is_live:
                return OrderUpdate(symbol, client_order_id, venue_order.status, venue_order.filled,
                                   venue_order.venue_order_id, "already done", ts=self._clock())
        amount, price_f = self._on_grid(symbol, tracked.size, price)
        params: dict[str, Any] = {}
        if self.name == "deribit":
            params = {"post_only": True, "reject_post_only": True}
        unified = self._unified[symbol]
        async with self._order_budget:
            try:
                order = await self.acct.edit_order(tracked.venue_id, unified, "limit", tracked.side.value, amount,
                                                   price_f, params)
            except (ccxt.BaseError, asyncio.TimeoutError) as exc:
                return await self._amend_failed(symbol, client_order_id, price, exc)
        update = self._order_update(symbol, client_order_id, order, "amended")
        return update if update.status is not OrderStatus.OPEN else replace(update, reason="amended")

    async def _amend_failed(self, symbol: str, cid: str, price: Decimal, exc: BaseException) -> OrderUpdate:
        """An amend the venue did not confirm; never resent. A refusal leaves the order as it was
        (:class:`OrderRejected`; :class:`PostOnlyRejected` for a post-only cross) unless the order
        is no longer open (Deribit refuses with ``not_open_order``): then its final state is
        reported. After an unknown outcome or an order the venue does not find (Binance -2013), the
        order's state as the venue has it."""
        action = classify(exc, placing=True)
        if action is Action.REJECTED:
            with contextlib.suppress(VenueError):
                update = await self._amend_outcome(symbol, cid, price)
                if not update.status.is_live:
                    return update
        self._refuse(symbol, action, exc, "amend not sent")
        if action is Action.RECONCILE:
            return await self._amend_outcome(symbol, cid, price)
        raise VenueError(f"{type(exc).__name__}: {exc}")

    async def _amend_outcome(self, symbol: str, cid: str, price: Decimal) -> OrderUpdate:
        """The order as the venue has it after an unconfirmed amend to ``price`` (reason ``amended``
        if it rests there, else ``amend outcome reconciled``)."""
        order = await self._find_order(symbol, cid)
        update = self._order_update(symbol, cid, order, "amend outcome reconciled")
        if update.status is OrderStatus.OPEN and n.dec(order.get("price")) == price:
            return replace(update, reason="amended")
        return update

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderUpdate:
        acct = self._exchange_for_account()
        tracked = self._orders.get(client_order_id)
        if tracked is None or tracked.venue_id is None:
            try:
                order = await self._find_order(symbol, client_order_id)
            except OrderNotFound:
                raise OrderNotFound(f"{self.name}: unknown client order id {client_order_id}") from None
            update = self._order_update(symbol, client_order_id, order, "")
            if not update.status.is_live:
                return replace(update, reason="already done")
            tracked = self._orders[client_order_id]
        unified = self._unified[symbol]
        async with self._order_budget:
            try:
                order = await acct.cancel_order(tracked.venue_id, unified)
            except (ccxt.BaseError, asyncio.TimeoutError) as exc:
                return await self._cancel_failed(symbol, client_order_id, exc)
        update = self._order_update(symbol, client_order_id, order, "cancelled")
        if update.status is OrderStatus.OPEN:  # Binance/Deribit answer with the final state; be safe
            update = replace(update, status=OrderStatus.CANCELLED)
        return update

    async def _cancel_failed(self, symbol: str, cid: str, exc: BaseException) -> OrderUpdate:
        action = classify(exc)
        if action in (Action.SLOW_DOWN, Action.BANNED):
            self._cool_down(self.acct, exc, action)
        if action is Action.HALT:
            self._halt(symbol, exc)
        if action in (Action.RECONCILE, Action.REJECTED, Action.RETRY):
            # order not found / not open / unknown outcome: ask the venue instead of resending
            order = await self._find_order(symbol, cid)
            update = self._order_update(symbol, cid, order, "already done")
            if not update.status.is_live:
                return update
        raise VenueError(f"cancel {cid}: {type(exc).__name__}: {exc}")

    async def _cancel_quietly(self, symbol: str, cid: str) -> None:
        with contextlib.suppress(Exception):
            update = await self.cancel_order(symbol, cid)
            self._abandoned.discard(cid)
            self._queue.put_nowait(update)

    async def cancel_all(self, symbol: str | None = None) -> list[OrderUpdate]:
        acct = self._exchange_for_account()
        updates: list[OrderUpdate] = []
        for s in [symbol] if symbol is not None else list(self._symbols):
            open_orders = await self.fetch_open_orders(s)
            if not open_orders:
                continue
            unified = self._unified[s]
            async with self._order_budget:
                try:
                    await acct.cancel_all_orders(unified)
                except (ccxt.BaseError, asyncio.TimeoutError) as exc:
                    raise VenueError(f"cancel_all {s}: {type(exc).__name__}: {exc}") from None
            for o in open_orders:
                updates.append(OrderUpdate(s, o.client_order_id, OrderStatus.CANCELLED, o.filled, o.venue_order_id,
                                           "cancelled (cancel all)", ts=self._clock()))
                if o.client_order_id in self._orders:
                    self._orders[o.client_order_id].status = OrderStatus.CANCELLED
        return updates

    # Greeks source --------------------------------------------------------------------------------
    def venue_greeks(self) -> dict[str, VenueGreeks]:
        """Latest Greeks of streamed Deribit options (core units), by symbol."""
        return dict(self.greeks)


def _trade_key(trade: dict) -> str | None:
    """One of our trades, whichever way it came (trade stream, an order's answer); None if the
    venue gave it no id."""
    return None if trade.get("id") is None else f"{trade.get('symbol')}:{trade.get('id')}"


def _rebase(urls: Any, rest: str, ws: str) -> Any:
    """Every URL in ccxt's ``urls['api']`` moved to the ``rest`` / ``ws`` origin, path kept."""
    if isinstance(urls, dict):
        return {k: _rebase(v, rest, ws) for k, v in urls.items()}
    if isinstance(urls, str) and "://" in urls:
        parts = urlsplit(urls)
        origin = ws if parts.scheme in ("ws", "wss") else rest
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return origin.rstrip("/") + path
    return urls
