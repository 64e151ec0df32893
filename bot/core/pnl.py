"""Trading P&L of one instrument from its fills: average entry, realised P&L and round trips.

Pure. Linear contracts settle in the quote currency (taken as USD); inverse contracts settle in
the coin, and their P&L is converted to USD at the price of the fill that realised it (and, for
unrealised P&L, at the mark). Average entry of an inverse position is the contract-weighted
harmonic mean of fill prices, which is what makes its coin P&L exact.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from bot.core.types import Fill, InstrumentSpec, PnlView

MAX_ROUND_TRIPS = 200


@dataclass(frozen=True, slots=True)
class PnlBook:
    """Running P&L state of one instrument (the position itself is kept by the caller); USD."""

    avg_entry_price: Decimal | None = None
    realized_pnl_usd: float = 0.0
    fees_usd: float = 0.0
    open_trip_pnl_usd: float = 0.0
    """Realised P&L (net of fees) of the round trip still open, since the position left flat."""
    closed_trade_pnls_usd: tuple[float, ...] = ()
    last_fill_price: Decimal | None = None
    last_fill_ts: float | None = None


def _pnl_usd(spec: InstrumentSpec, contracts: Decimal, entry: Decimal, exit_: Decimal) -> float:
    """P&L in USD of closing ``contracts`` (signed, the position's sign) from entry to exit."""
    if spec.inverse:
        coins = contracts * spec.contract_size * (1 / entry - 1 / exit_)
        return float(coins * exit_)
    return float(contracts * spec.contract_size * (exit_ - entry))


def _fee_usd(spec: InstrumentSpec, fill: Fill) -> float:
    return float(fill.fee * fill.price) if spec.inverse else float(fill.fee)


def _blend_entry(spec: InstrumentSpec, size: Decimal, entry: Decimal, add: Decimal, price: Decimal) -> Decimal:
    """Average entry after adding ``add`` contracts at ``price`` to ``size`` at ``entry`` (same sign)."""
    total = abs(size) + abs(add)
    if spec.inverse:
        return total / (abs(size) / entry + abs(add) / price)
    return (abs(size) * entry + abs(add) * price) / total


def apply_fill(book: PnlBook, position: Decimal, fill: Fill, spec: InstrumentSpec) -> PnlBook:
    """``book`` after ``fill`` on a position of ``position`` contracts: realises P&L on the part that reduces the position, re-averages
    the entry on the part that adds, and closes a round trip when the position reaches or
    crosses zero."""
    size, delta, price = position, fill.signed_size, fill.price
    if delta == 0:
        return book
    fee = _fee_usd(spec, fill)
    realised = 0.0
    entry = book.avg_entry_price
    trip = book.open_trip_pnl_usd - fee
    closed = book.closed_trade_pnls_usd
    new_size = size + delta
    if size == 0 or (size > 0) == (delta > 0):
        entry = price if size == 0 or entry is None else _blend_entry(spec, size, entry, delta, price)
    else:
        closing = -delta if abs(delta) <= abs(size) else size
        realised = _pnl_usd(spec, closing, entry, price) if entry is not None else 0.0
        trip += realised
        if new_size == 0 or (new_size > 0) != (size > 0):
            closed = (closed + (trip,))[-MAX_ROUND_TRIPS:]
            trip = 0.0
            entry = price if new_size != 0 else None
    return replace(
        book, avg_entry_price=entry, realized_pnl_usd=book.realized_pnl_usd + realised,
        fees_usd=book.fees_usd + fee, open_trip_pnl_usd=trip, closed_trade_pnls_usd=closed,
        last_fill_price=price, last_fill_ts=fill.ts,
    )


def view(book: PnlBook, position: Decimal, spec: InstrumentSpec, mark: Decimal | None,
         best_mid_since_entry: float | None = None) -> PnlView:
    """What policies see: the book plus unrealised P&L of ``position`` at ``mark`` (zero
    without a mark), and the most favourable mid since entry as the caller tracks it."""
    unrealised = 0.0
    if mark is not None and book.avg_entry_price is not None and position != 0:
        unrealised = _pnl_usd(spec, position, book.avg_entry_price, mark)
    return PnlView(
        avg_entry_price=book.avg_entry_price, realized_pnl_usd=book.realized_pnl_usd,
        unrealized_pnl_usd=unrealised, fees_usd=book.fees_usd,
        closed_trade_pnls_usd=book.closed_trade_pnls_usd, last_fill_price=book.last_fill_price,
        last_fill_ts=book.last_fill_ts, best_mid_since_entry=best_mid_since_entry,
    )
