"""The order planner: from target, position, working orders and book to order actions.

Pure. Invariants (sizes in contracts):

* position + the signed remaining size of every live order on the side that moves toward the
  target never passes the target: an order counts as working until the venue confirms it is done,
  so a replacement is only placed once the size it replaces is confirmed cancelled;
* nothing is placed on one side while an order on the other side is still live (no self-trade);
* every price is on the tick grid at the passive touch, every size a whole number of lots, at
  least the minimum size and notional.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Sequence, Union

from bot.core.rounding import passive_price, size_to_lot
from bot.core.types import ZERO, Book, InstrumentSpec, Order, OrderStatus, Side


@dataclass(frozen=True, slots=True)
class ExecutionParams:
    """How orders are worked. ``max_order_size`` in contracts; lifetimes in seconds."""

    max_order_size: Decimal
    reprice_tolerance_ticks: int = 1
    min_order_lifetime_s: float = 1.0
    max_working_orders: int = 2


@dataclass(frozen=True, slots=True)
class Place:
    side: Side
    price: Decimal
    size: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class Cancel:
    client_order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Reprice:
    """Move a resting order to ``price`` (amend in place; its size is unchanged)."""

    client_order_id: str
    price: Decimal
    reason: str


Action = Union[Place, Cancel, Reprice]


def working_quantity(orders: Sequence[Order]) -> Decimal:
    """Signed remaining size (contracts) of every live order."""
    return sum((o.signed_remaining for o in orders), ZERO)


def plan(
    *,
    target: Decimal,
    position: Decimal,
    orders: Sequence[Order],
    book: Book | None,
    spec: InstrumentSpec,
    params: ExecutionParams,
    now: float,
) -> list[Action]:
    """Actions that move ``position`` toward ``target`` with passive orders at the touch."""
    live = [o for o in orders if o.status.is_live]
    diff = target - position
    want = Side.of(diff) if diff != 0 else None
    actions: list[Action] = []

    for order in live:
        if order.side is not want and order.status is OrderStatus.OPEN:
            actions.append(Cancel(order.client_order_id, "target reached" if want is None else "wrong side"))
    if want is None:
        return actions

    # Keep the best-placed orders (committed ones first) up to |diff|; cancel the excess.
    same_side = [o for o in live if o.side is want]
    committed = sorted(same_side, key=lambda o: (o.status is OrderStatus.OPEN, -o.price * want.sign, o.created_ts))
    budget = abs(diff)
    kept: list[Order] = []
    for order in committed:
        if order.remaining <= budget or order.status is not OrderStatus.OPEN:
            budget -= order.remaining
            kept.append(order)
        else:
            actions.append(Cancel(order.client_order_id, "exceeds remaining difference"))

    touch = book.touch(want) if book is not None else None
    if touch is None:
        return actions
    price = passive_price(want, touch, spec.tick_size)
    tolerance = spec.tick_size * params.reprice_tolerance_ticks
    for order in kept:
        if (
            order.status is OrderStatus.OPEN
            and abs(order.price - price) > tolerance
            and now - order.created_ts >= params.min_order_lifetime_s
        ):
            actions.append(Reprice(order.client_order_id, price, f"touch moved to {price}"))

    if any(o.side is not want for o in live) or len(same_side) >= params.max_working_orders:
        return actions  # wait until the other side's orders are confirmed gone, or for room
    capacity = abs(diff) - sum((o.remaining for o in same_side), ZERO)
    size = size_to_lot(min(capacity, params.max_order_size), spec.lot_size)
    if size > 0 and size >= spec.min_size and spec.notional(size, price) >= spec.min_notional:
        actions.append(Place(want, price, size, f"work difference {diff}"))
    return actions
