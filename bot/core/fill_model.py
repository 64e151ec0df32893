"""When does a resting limit order fill? The honest passive fill rule, as a pure function.

An order joins the back of the displayed queue at its price (``queue_ahead`` contracts in front).
Public trades at its price first consume the queue ahead, then the order; a trade printing
*through* its price (below a bid, above an ask) fills it up to the trade's size. A displayed level
that shrinks for any other reason (cancels) can only shorten the queue ahead to the new displayed
size. An order never fills because the price merely touched it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from bot.core.types import ZERO, Side, Trade


@dataclass(frozen=True, slots=True)
class QueuedOrder:
    """A resting order's place in the queue; sizes in contracts, price in quote currency."""

    client_order_id: str
    side: Side
    price: Decimal
    remaining: Decimal
    queue_ahead: Decimal


def _is_through(order: QueuedOrder, trade_price: Decimal) -> bool:
    return trade_price < order.price if order.side is Side.BUY else trade_price > order.price


def apply_trade(order: QueuedOrder, trade: Trade) -> tuple[QueuedOrder, Decimal]:
    """The order after ``trade`` prints, and the size (contracts) it filled, possibly zero."""
    if trade.aggressor is order.side or order.remaining <= 0:
        return order, ZERO  # only the other side's aggressors trade against a resting order
    if _is_through(order, trade.price):
        filled = min(order.remaining, trade.size)
        return replace(order, remaining=order.remaining - filled), filled
    if trade.price != order.price:
        return order, ZERO
    if trade.size <= order.queue_ahead:
        return replace(order, queue_ahead=order.queue_ahead - trade.size), ZERO
    filled = min(order.remaining, trade.size - order.queue_ahead)
    return replace(order, queue_ahead=ZERO, remaining=order.remaining - filled), filled


def apply_displayed_size(order: QueuedOrder, displayed: Decimal) -> QueuedOrder:
    """Cancels ahead of us: the queue ahead can never exceed what is displayed at our price."""
    if displayed >= order.queue_ahead:
        return order
    return replace(order, queue_ahead=max(displayed, ZERO))
