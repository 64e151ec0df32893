"""When does an order fill? The one fill model of paper mode, the simulated and the replay venues.

Pure functions over a resting order's place in the queue (:class:`QueuedOrder`); sizes in
contracts, prices in quote currency.

* **Joining.** An order joins the back of the displayed queue at its price: ``queue_ahead`` is the
  displayed size there when it arrives (:func:`join_queue`).
* **Trades.** Public trades at its price (the other side's aggressors) first consume the queue
  ahead, then the order; a trade printing *through* its price (below a bid, above an ask) fills it
  up to the trade's size (:func:`apply_trade`). An order never fills because the price merely
  touched it. Several of our orders share one print in priority order (better price first, then
  time): each gets only what the ones ahead of it left (``available``).
* **Cancels.** When the displayed size at its price changes (:func:`apply_displayed_size`), the
  decrease not explained by the trades seen there since the last change is cancels. The
  :class:`QueueModel` says how much of that came from ahead of us: ``conservative`` assumes every
  cancel comes from behind (the queue ahead only shrinks to the displayed size), ``power`` and
  ``log`` split it by the relative sizes ahead and behind, as hftbacktest's ``ProbQueueModel``
  with ``PowerProbQueueFunc(n)`` / ``LogProbQueueFunc`` (after Rigtorp, "Estimating order queue
  position", 2013): the probability that a cancel came from behind is ``f(behind) / (f(behind) +
  f(ahead))`` with ``f(x) = x**n`` or ``log(1 + x)``.
* **Crossing.** When the other side's displayed book moves to or through its price (an order
  that would have traded with ours), it fills as maker at its own price, up to the newly crossing
  size (:func:`apply_cross`).
* **Taking.** An IOC order walks the other side's displayed levels up to its limit
  (:func:`take_liquidity`); the recorded market does not react to our orders (no impact beyond
  the levels one order walks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Decimal
from typing import Literal, Sequence

from bot.core.types import ZERO, Level, Side, Trade


@dataclass(frozen=True, slots=True)
class QueuedOrder:
    """A resting order's place in the queue; sizes in contracts, price in quote currency.

    ``level_size`` is the displayed size at ``price`` when last seen (``None``: not known yet) and
    ``traded_since`` the volume printed at ``price`` against our side since then; together they
    tell cancels from trades when the displayed size next changes. ``crossing`` is the other
    side's displayed size at or through ``price`` at the last look (already used for fills).
    """

    client_order_id: str
    side: Side
    price: Decimal
    remaining: Decimal
    queue_ahead: Decimal
    level_size: Decimal | None = None
    traded_since: Decimal = ZERO
    crossing: Decimal = ZERO


QueueModelKind = Literal["conservative", "power", "log"]


@dataclass(frozen=True, slots=True)
class QueueModel:
    """How a decrease of the displayed size at our price (beyond trades) splits around us.

    ``conservative``: every cancel comes from behind (hftbacktest's ``RiskAdverseQueueModel``);
    ``power``: P(cancel from behind) = behind**n / (behind**n + ahead**n) with n = ``power``;
    ``log``: the same with f(x) = ln(1 + x) (sizes in contracts).
    """

    kind: QueueModelKind = "conservative"
    power: float = 2.0

    def __post_init__(self) -> None:
        if self.kind not in ("conservative", "power", "log"):
            raise ValueError(f"unknown queue model {self.kind!r}")
        if not self.power > 0:
            raise ValueError(f"queue model power must be positive (got {self.power})")

    def p_from_behind(self, ahead: float, behind: float) -> float:
        """Probability that one contract cancelled at our level was behind us."""
        if self.kind == "conservative":
            return 1.0
        if self.kind == "power":
            fa, fb = ahead ** self.power, behind ** self.power
        else:
            fa, fb = math.log1p(ahead), math.log1p(behind)
        total = fa + fb
        return 1.0 if total <= 0 or math.isinf(total) else fb / total


CONSERVATIVE = QueueModel()


def join_queue(client_order_id: str, side: Side, price: Decimal, size: Decimal, displayed: Decimal,
               crossing: Decimal = ZERO) -> QueuedOrder:
    """A new order at the back of the ``displayed`` queue at ``price``."""
    displayed = max(displayed, ZERO)
    return QueuedOrder(client_order_id, side, price, size, displayed, displayed, ZERO, crossing)


def _is_through(order: QueuedOrder, trade_price: Decimal) -> bool:
    return trade_price < order.price if order.side is Side.BUY else trade_price > order.price


def apply_trade(order: QueuedOrder, trade: Trade, available: Decimal | None = None) -> tuple[QueuedOrder, Decimal]:
    """The order after ``trade`` prints, and the size (contracts) it filled, possibly zero.

    ``available`` is the part of the print left for this order after our own orders ahead of it
    (better priced, or earlier at its price) took theirs (default: all of it). It is what moves the
    queue and fills; the level's record of traded volume counts the whole print.
    """
    if trade.aggressor is order.side or order.remaining <= 0:
        return order, ZERO  # only the other side's aggressors trade against a resting order
    volume = trade.size if available is None else max(min(available, trade.size), ZERO)
    if _is_through(order, trade.price):
        filled = min(order.remaining, volume)
        return (replace(order, remaining=order.remaining - filled), filled) if filled > 0 else (order, ZERO)
    if trade.price != order.price:
        return order, ZERO
    traded = order.traded_since + trade.size
    if volume <= order.queue_ahead:
        return replace(order, queue_ahead=order.queue_ahead - volume, traded_since=traded), ZERO
    filled = min(order.remaining, volume - order.queue_ahead)
    return replace(order, queue_ahead=ZERO, remaining=order.remaining - filled, traded_since=traded), filled


def apply_displayed_size(order: QueuedOrder, displayed: Decimal, model: QueueModel = CONSERVATIVE,
                         step: Decimal | None = None) -> QueuedOrder:
    """The queue ahead after the displayed size at our price became ``displayed``.

    The queue ahead never exceeds what is displayed and never grows. With ``conservative`` (the
    default) that is all; the probabilistic models also move us up by their share of the cancels.
    A probabilistic estimate is rounded *up* to a multiple of ``step`` (the lot) so fills stay on
    the lot grid. An unchanged displayed size is not an event: nothing moves.
    """
    displayed = max(displayed, ZERO)
    previous = order.level_size
    if previous is not None and displayed == previous:
        return order
    ahead = min(order.queue_ahead, displayed)
    if model.kind != "conservative" and previous is not None:
        before = max(previous - order.traded_since, ZERO)  # the level once the trades took their part
        front = min(order.queue_ahead, before)
        back = before - front
        cancelled = before - displayed
        if cancelled > 0:
            p = model.p_from_behind(float(front), float(back))
            estimate = float(front) - (1 - p) * float(cancelled) + min(float(back) - p * float(cancelled), 0.0)
            ahead = min(_to_decimal(max(estimate, 0.0), step), ahead)
    return replace(order, queue_ahead=ahead, level_size=displayed, traded_since=ZERO)


def _to_decimal(value: float, step: Decimal | None) -> Decimal:
    exact = Decimal(repr(value))
    if step is None or step <= 0:
        return exact
    return (exact / step).to_integral_value(rounding=ROUND_CEILING) * step


def apply_cross(order: QueuedOrder, crossing: Decimal, taken: Decimal = ZERO) -> tuple[QueuedOrder, Decimal]:
    """The order after the other side shows ``crossing`` contracts at or through its price.

    Only the increase over what was already crossing at the last look fills (the recorded book
    does not remove what traded with us), less ``taken`` by our own orders ahead of this one; the
    fill is at the order's price, as maker.
    """
    crossing = max(crossing, ZERO)
    fresh = crossing - order.crossing - taken
    if fresh <= 0 or order.remaining <= 0:
        return replace(order, crossing=crossing) if crossing != order.crossing else order, ZERO
    filled = min(order.remaining, fresh)
    return replace(order, remaining=order.remaining - filled, crossing=crossing), filled


def crossing_size(side: Side, price: Decimal, other_side: Sequence[Level]) -> Decimal:
    """Displayed size on the other side (best first) at or through ``price`` for an order on ``side``."""
    total = ZERO
    for level in other_side:
        if (level.price - price) * side.sign > 0:
            break
        total += level.size
    return total


def take_liquidity(side: Side, limit: Decimal, size: Decimal, other_side: Sequence[Level]) -> list[tuple[Decimal, Decimal]]:
    """An IOC ``side`` order for ``size`` up to ``limit`` against the other side's levels (best
    first): the ``(price, size)`` of each fill, best price first; what is left is cancelled."""
    fills: list[tuple[Decimal, Decimal]] = []
    left = size
    for level in other_side:
        if left <= 0 or (level.price - limit) * side.sign > 0:
            break
        take = min(left, level.size)
        if take > 0:
            fills.append((level.price, take))
            left -= take
    return fills
