"""The order state machine: how the venue's updates move one of our orders. Pure.

Transitions only go forward: PENDING → OPEN → CANCEL_PENDING → a terminal state (FILLED,
CANCELLED, REJECTED), so a late or duplicated message can never revive a finished order or
undo a cancel request. The filled size only grows. Position accounting does not use this
filled size: it counts fills by trade id (see the engine), so nothing is counted twice.
"""

from __future__ import annotations

from dataclasses import replace

from bot.core.types import Order, OrderStatus, OrderUpdate

_RANK = {
    OrderStatus.PENDING: 0,
    OrderStatus.OPEN: 1,
    OrderStatus.CANCEL_PENDING: 2,
    OrderStatus.CANCELLED: 3,
    OrderStatus.REJECTED: 3,
    OrderStatus.FILLED: 4,
}


def apply_update(order: Order, update: OrderUpdate) -> Order:
    """``order`` after the venue's ``update`` (which may arrive late, twice or out of order)."""
    filled = max(order.filled, update.filled)
    status = order.status
    if _RANK[update.status] > _RANK[status]:
        status = update.status
    if filled >= order.size:
        status = OrderStatus.FILLED
    return replace(
        order,
        status=status,
        filled=filled,
        venue_order_id=order.venue_order_id or update.venue_order_id,
    )
