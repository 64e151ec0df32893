"""Small builders shared by the core tests (sizes in contracts, prices in quote currency)."""

from __future__ import annotations

from decimal import Decimal

from bot.core.types import Book, InstrumentSpec, Level, Order, OrderStatus, Side, Trade

D = Decimal


def spec(**overrides) -> InstrumentSpec:
    """A linear BTC-USD-like instrument: tick 0.5, lot 0.001, maker rebate 1 bp, taker 5 bp."""
    fields = dict(symbol="BTC-PERP", tick_size=D("0.5"), lot_size=D("0.001"), min_size=D("0.001"),
                  maker_fee_bps=D("-1"), taker_fee_bps=D("5"))
    fields.update(overrides)
    return InstrumentSpec(**fields)


def book(bids=(("100", "3"),), asks=(("101", "2"),), ts: float = 1000.0, symbol: str = "BTC-PERP") -> Book:
    """A book from ``(price, size)`` string pairs, best first."""
    return Book(symbol, tuple(Level(D(p), D(s)) for p, s in bids), tuple(Level(D(p), D(s)) for p, s in asks), ts)


def order(cid: str = "o1", side: Side = Side.BUY, price: str = "100", size: str = "1",
          status: OrderStatus = OrderStatus.OPEN, created_ts: float = 0.0, filled: str = "0",
          symbol: str = "BTC-PERP") -> Order:
    return Order(cid, symbol, side, D(price), D(size), status, created_ts, filled=D(filled))


def trade(price: str, size: str, aggressor: Side, trade_id: str = "t", ts: float = 1000.0,
          symbol: str = "BTC-PERP") -> Trade:
    return Trade(symbol, trade_id, D(price), D(size), aggressor, ts)
