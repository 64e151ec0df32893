"""Deribit and Binance USDⓈ-M conventions, normalised to the core's.

Sizes: ccxt's order ``amount`` is in the venue's amount unit — Deribit futures: USD (inverse) or
coin (linear), Deribit options: coin, Binance USDⓈ-M: coin — and the market's ``contractSize``
is that unit per contract on both venues (Deribit BTC-PERPETUAL: 10 USD; Binance: 1). The core
counts **contracts**, so every amount crossing the boundary is divided (inbound) or multiplied
(outbound) by ``contractSize``: a Deribit BTC-PERPETUAL position of -1,230 USD is -123 contracts.

Prices: quote currency per coin on both venues. ccxt 4 uses ``TICK_SIZE`` precision for both,
so ``market['precision']['price']`` is the tick and ``['amount']`` the amount step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from bot.core.greeks.venue_conventions import VenueGreeks, from_deribit_ticker
from bot.core.types import ZERO, Book, Fill, InstrumentSpec, Level, MarketFactors, OrderStatus, Side, Trade

_BPS = Decimal(10_000)
SECONDS_PER_YEAR = 365.0 * 86_400


def dec(value: Any) -> Decimal:
    """A ccxt number (float, int or numeric string) as an exact Decimal of its shortest repr."""
    if value is None:
        return ZERO
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


@dataclass(frozen=True, slots=True)
class Units:
    """Amount unit ↔ contracts for one market."""

    contract_size: Decimal

    def contracts(self, amount: Any) -> Decimal:
        return dec(amount) / self.contract_size

    def amount(self, contracts: Decimal) -> Decimal:
        return contracts * self.contract_size


def units(market: Mapping) -> Units:
    size = dec(market.get("contractSize") or 1)
    return Units(size.to_integral_value() if size == size.to_integral_value() else size.normalize())


def spec_from_market(symbol: str, market: Mapping) -> InstrumentSpec:
    """The core's :class:`InstrumentSpec` from a ccxt market (TICK_SIZE precision mode)."""
    u = units(market)
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    tick = dec(precision.get("price"))
    step = dec(precision.get("amount") or (limits.get("amount") or {}).get("min") or u.contract_size)
    min_amount = dec((limits.get("amount") or {}).get("min") or step)
    min_cost = (limits.get("cost") or {}).get("min")
    if tick <= 0:
        raise ValueError(f"{symbol}: market has no tick size")
    return InstrumentSpec(
        symbol=symbol,
        tick_size=tick,
        lot_size=step / u.contract_size,
        min_size=min_amount / u.contract_size,
        min_notional=dec(min_cost) if min_cost else ZERO,
        contract_size=u.contract_size,
        inverse=bool(market.get("inverse")),
        base=market.get("base") or "BTC",
        quote=market.get("quote") or "USD",
        maker_fee_bps=dec(market.get("maker") or 0) * _BPS,
        taker_fee_bps=dec(market.get("taker") or 0) * _BPS,
    )


# orders ------------------------------------------------------------------------------------------
_STATUS = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
}


def order_status(order: Mapping) -> OrderStatus:
    return _STATUS.get(str(order.get("status")), OrderStatus.OPEN)


def order_params(exchange_id: str, client_order_id: str, *, post_only: bool, time_in_force: str,
                 reduce_only: bool) -> dict[str, Any]:
    """ccxt's unified ``create_order`` params for one of our limit orders.

    * ``post_only`` → ``postOnly`` (ccxt: Binance ``timeInForce=GTX``; Deribit ``post_only`` with
      ``reject_post_only``, so a crossing order is refused, never moved);
    * ``time_in_force`` ``IOC`` → ``timeInForce: IOC`` (ccxt: Binance ``timeInForce=IOC``; Deribit
      ``time_in_force=immediate_or_cancel``); ``GTC`` sends none, the venues' default (on Binance a
      ``timeInForce`` param would also override the GTX that makes an order post-only);
    * ``reduce_only`` → ``reduceOnly: True`` (Binance ``reduceOnly=true``, Deribit ``reduce_only``);
    * the client order id: Deribit ``label``, Binance ``clientOrderId`` (``newClientOrderId``).

    An IOC is a taker order: post-only IOC is refused (``ValueError``), as ccxt would."""
    if time_in_force not in ("GTC", "IOC"):
        raise ValueError(f"unsupported time in force {time_in_force!r} (GTC or IOC)")
    if post_only and time_in_force == "IOC":
        raise ValueError("a post-only order cannot be IOC (an IOC takes liquidity; post-only never does)")
    params: dict[str, Any] = {"postOnly": post_only}
    if time_in_force == "IOC":
        params["timeInForce"] = "IOC"
    if reduce_only:
        params["reduceOnly"] = True
    params["label" if exchange_id == "deribit" else "clientOrderId"] = client_order_id
    return params


def client_order_id(exchange_id: str, order: Mapping) -> str | None:
    """Our client order id: Deribit carries it as ``label`` (ccxt does not parse it back),
    Binance as ``clientOrderId`` (``c`` in stream messages)."""
    info = order.get("info") or {}
    if exchange_id == "deribit":
        label = info.get("label")
        return label or None
    return order.get("clientOrderId") or info.get("clientOrderId") or info.get("c") or None


_DERIBIT_POST_ONLY_CANCELS = ("edit_post_only_reject", "reject_post_only")
_BYBIT_POST_ONLY_REJECT = "EC_PostOnlyWillTakeLiquidity"
_OKX_POST_ONLY_CANCEL_SOURCE = "31"  # "POST_ONLY would take liquidity"


def post_only_rejection(exchange_id: str, order: Mapping) -> str | None:
    """Why ``order`` ended, if the venue ended a post-only order (or amend) because it would have
    crossed and says so only in the raw ``info`` (ccxt reports it as ``canceled``/``expired``);
    ``None`` for any other order. The same rule serves every path an order comes back on (order
    actions, lookups, the order stream), so the executor sees one post-only rejection:

    * Binance: a GTX order that would take ends with status ``EXPIRED`` (``X`` on the user stream;
      time in force ``f``); an IOC that found nothing also expires, and is not one;
    * Deribit: ``cancel_reason`` ``edit_post_only_reject`` (an edit with ``reject_post_only``);
      an IOC whose rest the venue cancelled has no such reason, and is not one;
    * Bybit: ``rejectReason`` ``EC_PostOnlyWillTakeLiquidity``; OKX: ``cancelSource`` 31.
    """
    info = order.get("info") or {}
    if exchange_id.startswith("binance"):
        status = info.get("status") or info.get("X")
        tif = info.get("timeInForce") or info.get("f")
        if status == "EXPIRED" and (tif == "GTX" or (tif is None and order.get("postOnly") is True)):
            return "post-only order would cross (expired)"
    elif exchange_id == "deribit":
        reason = info.get("cancel_reason")
        if info.get("order_state") in ("cancelled", "rejected") and reason in _DERIBIT_POST_ONLY_CANCELS:
            return f"post-only order would cross ({reason})"
    elif exchange_id == "bybit":
        if info.get("rejectReason") == _BYBIT_POST_ONLY_REJECT:
            return f"post-only order would cross ({_BYBIT_POST_ONLY_REJECT})"
    elif exchange_id == "okx":
        if info.get("state") == "canceled" and str(info.get("cancelSource")) == _OKX_POST_ONLY_CANCEL_SOURCE:
            return "post-only order would cross (cancelSource 31)"
    return None


# market data -------------------------------------------------------------------------------------
def book_from_ccxt(symbol: str, orderbook: Mapping, u: Units, depth: int, now: float) -> Book:
    ts_ms = orderbook.get("timestamp")
    return Book(
        symbol,
        tuple(Level(dec(p), u.contracts(a)) for p, a, *_ in list(orderbook.get("bids") or [])[:depth]),
        tuple(Level(dec(p), u.contracts(a)) for p, a, *_ in list(orderbook.get("asks") or [])[:depth]),
        ts_ms / 1000 if ts_ms else now,
    )


def trade_from_ccxt(symbol: str, trade: Mapping, u: Units) -> Trade | None:
    side = trade.get("side")
    if side not in ("buy", "sell"):
        return None
    return Trade(symbol, str(trade.get("id")), dec(trade.get("price")), u.contracts(trade.get("amount")),
                 Side(side), (trade.get("timestamp") or 0) / 1000)


def fill_from_ccxt(symbol: str, cid: str, trade: Mapping, u: Units, settle: str) -> Fill:
    fee = trade.get("fee") or {}
    return Fill(
        symbol=symbol,
        trade_id=str(trade.get("id")),
        client_order_id=cid,
        side=Side(trade["side"]),
        price=dec(trade.get("price")),
        size=u.contracts(trade.get("amount")),
        fee=dec(fee.get("cost")),
        fee_currency=fee.get("currency") or settle,
        liquidity="maker" if trade.get("takerOrMaker") == "maker" else "taker",
        ts=(trade.get("timestamp") or 0) / 1000,
    )


def factors_from_ticker(ticker: Mapping, u: Units) -> MarketFactors:
    """Funding per interval (Deribit ``funding_8h``: per 8 h; Binance ``r``); open interest in
    contracts: Deribit reports it in the amount unit (USD for inverse futures, coin otherwise), so
    it is divided by ``contractSize`` (BTC-PERPETUAL: 1,132,329,370 USD = 113,232,937 contracts)."""
    info = ticker.get("info") or {}
    funding = info.get("funding_8h") if "funding_8h" in info else info.get("r")
    oi = _float(info.get("open_interest"))
    return MarketFactors(
        funding_rate=float(funding) if funding not in (None, "") else None,
        mark_price=_float(ticker.get("markPrice") or info.get("mark_price") or info.get("p")),
        index_price=_float(ticker.get("indexPrice") or info.get("index_price") or info.get("i")),
        open_interest=None if oi is None else float(u.contracts(oi)),
    )


def _float(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


# positions and Greeks ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NormalisedPosition:
    """A position in the core's units: ``size`` contracts (signed), ``side`` long/short/flat,
    ``delta_coin`` the venue's position delta in coins (Deribit: premium-adjusted for options),
    ``None`` where the venue gives none."""

    symbol: str
    size: Decimal
    side: str
    entry_price: Decimal | None
    delta_coin: float | None
    mark_price: float | None


def position_from_ccxt(exchange_id: str, symbol: str, position: Mapping, u: Units) -> NormalisedPosition:
    """ccxt's ``parse_position`` calls a flat Deribit position ``short`` (it maps any direction
    but ``buy`` to short) and leaves the premium-adjusted delta in ``info``; this fixes both."""
    info = position.get("info") or {}
    if exchange_id == "deribit":
        size = u.contracts(info.get("size") or 0)  # signed, in the amount unit
        delta = _float(info.get("delta"))
    else:
        raw = info.get("positionAmt")
        if raw is None:
            raw = info.get("pa")
        if raw is None:
            contracts = dec(position.get("contracts") or 0)
            raw = contracts if position.get("side") != "short" else -contracts
        size = u.contracts(raw)
        delta = float(size * u.contract_size)  # linear: one contract is contract_size coins
    side = "flat" if size == 0 else "long" if size > 0 else "short"
    entry = position.get("entryPrice")
    return NormalisedPosition(symbol, size, side, dec(entry) if entry else None, delta,
                              _float(position.get("markPrice")))


def greeks_from_ccxt(greeks: Mapping, market: Mapping, now: float) -> VenueGreeks:
    """Greeks in the core's units from ccxt's ``parse_greeks`` output (Deribit option ticker):
    the raw ticker rides in ``info`` and is normalised by the Greeks layer's Deribit convention."""
    expiry_ms = market.get("expiry")
    tte = max(0.0, (expiry_ms / 1000 - now) / SECONDS_PER_YEAR) if expiry_ms else None
    venue = from_deribit_ticker(greeks.get("info") or {}, tte)
    if math.isnan(venue.underlying_price) and greeks.get("underlyingPrice"):
        venue = venue._replace(underlying_price=float(greeks["underlyingPrice"]))
    return venue
