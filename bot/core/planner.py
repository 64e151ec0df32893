"""The order planner: from target, position, working orders and book to order actions.

Pure (``plan`` and its helpers; :class:`TradeFlow` is a running tally the engine keeps, without
a clock). Orders rest post-only at the passive touch (joining it, or improving it by one tick when
the spread is wide), clipped to a share of the displayed depth, optionally layered over several
levels. As a target ages the quote steps toward the other side (never crossing); at the deadline,
or when the difference exceeds a hard band, resting orders are cancelled and the rest crosses
with IOC limits inside a price band. Never a market order.

Queue-aware urgency (``Urgency.flow_share``): from the recent public trade volume against our side
(:class:`Flow`, kept by :class:`TradeFlow`), the displayed queue ahead of our order and the time
left before the deadline, a target is *behind* when it cannot expect to fill passively in time.
Behind, an order follows the touch at once (no minimum lifetime, no tolerance: a level that has
just formed has the shortest queue) and a new order rests the whole difference (no depth clip).

Invariants (sizes in contracts):

* position + the signed remaining size of every live order on the side that moves toward the
  target never passes the target: an order counts as working until the venue confirms it is done,
  so a replacement is only placed once the size it replaces is confirmed cancelled;
* nothing is placed on one side while an order on the other side is still live (no self-trade);
* every price is on the tick grid at the passive touch, every size a whole number of lots, at
  least the minimum size and notional.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Sequence, Union

from bot.core.rounding import passive_price, size_to_lot
from bot.core.types import ZERO, Book, InstrumentSpec, Level, Order, OrderStatus, Side, Trade


@dataclass(frozen=True, slots=True)
class Urgency:
    """When to stop waiting. Times in seconds after the target changed; ``hard_band`` in
    contracts (a larger difference crosses at once); ``cross_band_bps`` the furthest an IOC limit
    may go past the far touch. ``None`` disables that escalation."""

    escalate_after_s: float | None = None
    step_every_s: float = 5.0
    deadline_s: float | None = None
    hard_band: Decimal | None = None
    cross_band_bps: Decimal = Decimal(10)
    flow_share: float | None = None
    """Queue-aware urgency (needs ``deadline_s`` and a :class:`Flow`): the target is *behind* when
    the displayed size at and ahead of our price plus the remaining difference exceeds this share
    of the volume expected to trade against our side before the deadline (recent rate × time
    left). ``None`` disables it."""


@dataclass(frozen=True, slots=True)
class ExecutionParams:
    """How orders are worked. Sizes in contracts; times in seconds.

    ``improve_when_spread_ticks``: quote one tick inside the touch when the spread is at least
    this wide (``None``: always join). ``depth_fraction``: a child order is at most this share of
    the displayed size at its level. ``layers``: resting levels used, one tick apart.
    """

    max_order_size: Decimal
    reprice_tolerance_ticks: int = 1
    min_order_lifetime_s: float = 1.0
    max_working_orders: int = 2
    improve_when_spread_ticks: int | None = None
    depth_fraction: float | None = None
    layers: int = 1
    urgency: Urgency = Urgency()


@dataclass(frozen=True, slots=True)
class Place:
    side: Side
    price: Decimal
    size: Decimal
    reason: str
    time_in_force: str = "GTC"
    """``GTC`` rests post-only; ``IOC`` crosses (escalation only)."""


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


@dataclass(frozen=True, slots=True)
class Flow:
    """Recent public trade volume in contracts per second, by the aggressor's side: ``buy`` lifts
    offers (it trades against resting sells), ``sell`` hits bids (against resting buys)."""

    buy: Decimal
    sell: Decimal

    def against(self, side: Side) -> Decimal:
        """The rate at which the market trades against resting ``side`` orders."""
        return self.sell if side is Side.BUY else self.buy


class TradeFlow:
    """Public prints of the last ``window_s`` seconds, summed exactly by aggressor side in buckets
    of ``bucket_s`` seconds (a print leaves with its bucket, so the window is exact to within
    ``bucket_s``; memory is one bucket a second however busy the market). No clock: ``now`` is
    passed in. Until a whole window has been seen the rate is over the time seen (at least
    ``min_span_s``)."""

    def __init__(self, window_s: float = 30.0, min_span_s: float = 1.0, bucket_s: float = 1.0):
        self.window_s, self.min_span_s, self.bucket_s = window_s, min_span_s, bucket_s
        self._buckets: deque[list] = deque()
        """``[bucket number, buy sum, sell sum]``, oldest first (bucket n covers n·bucket_s to (n+1)·bucket_s)."""
        self._sums = {Side.BUY: ZERO, Side.SELL: ZERO}
        self._first_ts: float | None = None

    def add(self, trade: Trade) -> None:
        if self._first_ts is None:
            self._first_ts = trade.ts
        n = int(trade.ts // self.bucket_s)
        if not self._buckets or n > self._buckets[-1][0]:
            self._buckets.append([n, ZERO, ZERO])
        bucket = self._buckets[-1]  # a print older than the latest bucket counts in it
        bucket[1 if trade.aggressor is Side.BUY else 2] += trade.size
        self._sums[trade.aggressor] += trade.size
        self._forget(trade.ts)  # bounded even if nobody asks for the rate

    def _forget(self, now: float) -> None:
        while self._buckets and (self._buckets[0][0] + 1) * self.bucket_s <= now - self.window_s:
            _, buy, sell = self._buckets.popleft()
            self._sums[Side.BUY] -= buy
            self._sums[Side.SELL] -= sell

    def rate(self, now: float) -> Flow | None:
        """The flow over the window ending at ``now``; ``None`` before any print."""
        if self._first_ts is None:
            return None
        self._forget(now)
        span = Decimal(repr(max(min(self.window_s, now - self._first_ts), self.min_span_s)))
        return Flow(buy=self._sums[Side.BUY] / span, sell=self._sums[Side.SELL] / span)


def within_budget(actions: Sequence[Action], budget: int) -> tuple[list[Action], int]:
    """The actions to send when only ``budget`` more may go now, and how many wait: cancels
    always go (they only reduce risk), then the others in plan order while the budget lasts."""
    cancels = [a for a in actions if isinstance(a, Cancel)]
    others = [a for a in actions if not isinstance(a, Cancel)]
    room = max(0, budget - len(cancels))
    return cancels + others[:room], max(0, len(others) - room)


def working_quantity(orders: Sequence[Order]) -> Decimal:
    """Signed remaining size (contracts) of every live order."""
    return sum((o.signed_remaining for o in orders), ZERO)


def without_own_orders(book: Book, orders: Sequence[Order]) -> Book:
    """``book`` minus the remaining size of our live orders at their prices, for venues whose
    public books include our own orders (we must not join or improve on ourselves)."""
    own: dict[tuple[Side, Decimal], Decimal] = {}
    for o in orders:
        if o.status.is_live:
            own[(o.side, o.price)] = own.get((o.side, o.price), ZERO) + o.remaining

    def levels(side: Side, book_side: tuple[Level, ...]) -> tuple[Level, ...]:
        kept = (Level(lv.price, lv.size - own.get((side, lv.price), ZERO)) for lv in book_side)
        return tuple(lv for lv in kept if lv.size > 0)

    return replace(book, bids=levels(Side.BUY, book.bids), asks=levels(Side.SELL, book.asks))


def escalation_ticks(urgency: Urgency, age_s: float | None) -> int:
    """Ticks the quote has stepped toward the other side after ``age_s`` seconds."""
    if urgency.escalate_after_s is None or age_s is None or age_s < urgency.escalate_after_s:
        return 0
    return 1 + int((age_s - urgency.escalate_after_s) // urgency.step_every_s)


def must_cross(urgency: Urgency, age_s: float | None, diff: Decimal) -> bool:
    """True once the deadline has passed or the difference is beyond the hard band."""
    late = urgency.deadline_s is not None and age_s is not None and age_s >= urgency.deadline_s
    wide = urgency.hard_band is not None and abs(diff) > urgency.hard_band
    return late or wide


def behind(urgency: Urgency, flow: Flow | None, want: Side, book: Book, price: Decimal, remaining: Decimal,
           age_s: float | None) -> bool:
    """Queue-aware urgency: True when the displayed size at ``price`` and better on ``want``'s side
    (an upper bound of the queue ahead of an order there) plus ``remaining`` exceeds
    ``flow_share`` × the flow against ``want`` × the seconds left before the deadline."""
    if urgency.flow_share is None or urgency.deadline_s is None or flow is None or age_s is None:
        return False
    left = urgency.deadline_s - age_s
    if left <= 0:
        return False  # past the deadline: must_cross decides
    own = book.bids if want is Side.BUY else book.asks
    ahead = sum((lv.size for lv in own if (lv.price - price) * want.sign >= 0), ZERO)
    expected = flow.against(want) * Decimal(repr(urgency.flow_share)) * Decimal(repr(left))
    return ahead + remaining > expected


def quote_price(want: Side, book: Book, spec: InstrumentSpec, params: ExecutionParams, steps: int) -> Decimal | None:
    """The passive price for a new ``want`` order: the touch, improved by a tick on a wide spread,
    moved ``steps`` ticks toward the other side (negative: back), never at or past the far touch."""
    touch = book.touch(want)
    if touch is None:
        return None
    tick = spec.tick_size
    far = book.touch(want.opposite)
    if far is not None and params.improve_when_spread_ticks is not None:
        if abs(far - touch) >= tick * params.improve_when_spread_ticks:
            steps += 1
    price = passive_price(want, touch + want.sign * tick * steps, tick)
    if far is not None and (price - far) * want.sign >= 0:
        price = far - want.sign * tick
    return price


def _child_size(capacity: Decimal, price: Decimal, want: Side, book: Book, spec: InstrumentSpec,
                params: ExecutionParams, clip: bool = True) -> Decimal:
    size = min(capacity, params.max_order_size)
    if params.depth_fraction is not None and clip:
        shown = book.size_at(want, price) or book.size_at(want, book.touch(want))
        if shown > 0:
            size = min(size, max(spec.min_size, shown * Decimal(repr(params.depth_fraction))))
    return size_to_lot(size, spec.lot_size)


def _tradable(size: Decimal, price: Decimal, spec: InstrumentSpec) -> bool:
    return size > 0 and size >= spec.min_size and spec.notional(size, price) >= spec.min_notional


def plan(
    *,
    target: Decimal,
    position: Decimal,
    orders: Sequence[Order],
    book: Book | None,
    spec: InstrumentSpec,
    params: ExecutionParams,
    now: float,
    target_set_ts: float | None = None,
    back_off_ticks: int = 0,
    flow: Flow | None = None,
) -> list[Action]:
    """Actions that move ``position`` toward ``target``.

    ``target_set_ts`` (s) dates the target for urgency; ``back_off_ticks`` moves new quotes
    away from the touch after post-only rejections; ``flow`` (recent public trade volume) feeds
    the queue-aware urgency.
    """
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
    if book is None:
        return actions

    age = now - target_set_ts if target_set_ts is not None else None
    capacity = abs(diff) - sum((o.remaining for o in same_side), ZERO)
    blocked = any(o.side is not want for o in live)  # wait until the other side is confirmed gone
    if must_cross(params.urgency, age, diff):
        actions += [Cancel(o.client_order_id, "escalate: cross") for o in kept if o.status is OrderStatus.OPEN]
        far = book.touch(want.opposite)
        if far is None or blocked:
            return actions
        limit = passive_price(want, far * (1 + want.sign * params.urgency.cross_band_bps / 10_000), spec.tick_size)
        size = size_to_lot(min(capacity, params.max_order_size), spec.lot_size)
        if _tradable(size, limit, spec):
            actions.append(Place(want, limit, size, f"escalate: cross {diff} by IOC", "IOC"))
        return actions

    price = quote_price(want, book, spec, params, escalation_ticks(params.urgency, age) - back_off_ticks)
    if price is None:
        return actions
    tick = spec.tick_size
    levels = [price - want.sign * tick * i for i in range(params.layers)]
    best = max((o.price * want.sign for o in kept), default=price * want.sign) * want.sign
    late = behind(params.urgency, flow, want, book, best, abs(diff), age)
    tolerance = ZERO if late else tick * params.reprice_tolerance_ticks
    lifetime = 0.0 if late else params.min_order_lifetime_s
    taken = {o.price for o in kept}
    for order in kept:
        stale = min(abs(order.price - level) for level in levels) > tolerance
        if order.status is OrderStatus.OPEN and stale and now - order.created_ts >= lifetime:
            free = [level for level in levels if level not in taken] or levels
            taken.add(free[0])
            why = f"touch moved to {free[0]}" + ("; behind: cannot fill in time where it rests" if late else "")
            actions.append(Reprice(order.client_order_id, free[0], why))

    if blocked or len(same_side) >= params.max_working_orders:
        return actions
    level = next((lv for lv in levels if lv not in taken), levels[0])
    size = _child_size(capacity, level, want, book, spec, params, clip=not late)
    if _tradable(size, level, spec):
        actions.append(Place(want, level, size, f"work difference {diff}"))
    return actions
