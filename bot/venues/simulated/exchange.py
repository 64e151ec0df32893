"""The simulated exchange's matching and account: synchronous, deterministic, serialisable.

Shared by the simulated (paper) venue and the replay venue. Our resting orders are matched
against public trade prints and the displayed book by the fill model (:mod:`bot.core.fill_model`):
price-time priority behind the displayed queue, whose cancels are split around us by a
:class:`~bot.core.fill_model.QueueModel`; fills on trades at or through the order's price, or when
the other side's book crosses it. Post-only orders that would cross are rejected; IOC orders
take the displayed liquidity up to their limit (taker fee) and cancel the rest.

**No impact.** The recorded market does not see our orders: a print that fills us is not taken
from anyone else, and what our IOC orders take from a displayed level is only held back until
the instrument's book next changes.

**Latency.** With ``entry_latency_s`` / ``cancel_latency_s`` > 0, an order action reaches the
matching engine that long after it is sent: :meth:`place` answers ``PENDING`` ("sent") and the
order joins the queue (or is rejected, or takes liquidity) at arrival, against the book then;
:meth:`cancel` answers ``CANCEL_PENDING`` and the order can still fill until the cancel arrives;
an amend moves the order at arrival (if the new price would cross then, the order is cancelled).
The caller drives time with :meth:`advance` (due actions, in time order) and :meth:`on_market`.
With zero latency (the default) every action takes effect at once, as before.

Updates that an action produces beyond its direct answer (an IOC's fills and its final status)
are kept in an outbox, read with :meth:`take_updates`; each carries at most one fill.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from bot.core.codec import decode, encode
from bot.core.fees import fee
from bot.core.fill_model import (
    CONSERVATIVE, QueuedOrder, QueueModel, apply_cross, apply_displayed_size, apply_trade, crossing_size, join_queue,
    take_liquidity,
)
from bot.core.types import ZERO, Book, Fill, InstrumentSpec, Level, OrderStatus, OrderUpdate, Side, Trade
from bot.venues.base import OrderNotFound, OrderRejected, OrderRequest, PostOnlyRejected, VenueOrder

MAX_DONE_ORDERS = 2000
MAX_FILLS = 5000
BOOK_CROSS = "book-cross"
"""``trade_id`` of the synthetic print recorded as the cause of a fill by a crossing book."""


@dataclass(slots=True)
class _Resting:
    order: VenueOrder
    queue: QueuedOrder
    fills: int = 0
    joined: int = 0
    """When it joined its queue (a sequence number): time priority among our own orders."""


@dataclass(slots=True)
class _InFlight:
    """An order sent but not yet at the matching engine."""

    request: OrderRequest
    sent_ts: float
    cancel_on_arrival: bool = False


class SimulatedExchange:
    """Orders, positions and fills of one simulated account."""

    def __init__(self, specs: dict[str, InstrumentSpec], *, queue_model: QueueModel = CONSERVATIVE,
                 entry_latency_s: float = 0.0, cancel_latency_s: float = 0.0):
        if entry_latency_s < 0 or cancel_latency_s < 0:
            raise ValueError("latencies must not be negative")
        self.specs = specs
        self.queue_model = queue_model
        self.entry_latency_s = entry_latency_s
        self.cancel_latency_s = cancel_latency_s
        self._resting: dict[str, _Resting] = {}
        self._done: dict[str, VenueOrder] = {}
        self._in_flight: dict[str, _InFlight] = {}
        self._due: list[tuple[float, int, str, str, str]] = []  # (due ts, seq, kind, cid, price)
        self._seq = 0
        self._joins = 0
        self._books: dict[str, Book] = {}
        self._taken: dict[str, dict[tuple[Side, Decimal], Decimal]] = {}
        """Per instrument, what our IOC orders took from each displayed level of the current book
        (the recorded book does not show it until it next changes)."""
        self._outbox: list[OrderUpdate] = []
        self.positions: dict[str, Decimal] = {s: ZERO for s in specs}
        self.fills: list[Fill] = []
        self.fill_causes: dict[str, Trade] = {}
        """Our fill's ``trade_id`` -> the public print that filled it (a maker fill), our own
        print against a book level (a taker fill), or a :data:`BOOK_CROSS` print."""
        self._next_id = 1

    # order actions -------------------------------------------------------------------------
    def place(self, req: OrderRequest, book: Book, ts: float) -> OrderUpdate:
        """Send ``req``; raises :class:`OrderRejected` at once for a duplicate id, and for a
        post-only order that would cross when there is no entry latency."""
        cid = req.client_order_id
        if cid in self._resting or cid in self._done or cid in self._in_flight:
            raise OrderRejected(f"duplicate client order id {cid}")
        if req.size <= 0:
            raise OrderRejected(f"size must be positive (got {req.size})")
        self._use_book(book)
        if self.entry_latency_s <= 0:
            ack, *rest = self._arrive(req, book, ts)
            self._outbox.extend(rest)
            return ack
        self._in_flight[cid] = _InFlight(req, ts)
        self._schedule(ts + self.entry_latency_s, "place", cid)
        return OrderUpdate(req.symbol, cid, OrderStatus.PENDING, ZERO, None, "sent", ts=ts)

    def amend(self, cid: str, price: Decimal, book: Book, ts: float) -> OrderUpdate:
        resting = self._resting.get(cid)
        flight = self._in_flight.get(cid)
        if resting is None and flight is None:
            return self._final_or_missing(cid, ts)
        side = resting.order.side if resting else flight.request.side  # type: ignore[union-attr]
        self._check_passive(side, price, book)
        self._use_book(book)
        if self.entry_latency_s <= 0 and resting is not None:
            self._move(resting, price, book)
        else:
            self._schedule(ts + self.entry_latency_s, "amend", cid, price)
        o = resting.order if resting else self._pending_view(flight)  # type: ignore[arg-type]
        return OrderUpdate(o.symbol, cid, OrderStatus.OPEN, o.filled, o.venue_order_id, "amended", ts=ts)

    def cancel(self, cid: str, ts: float) -> OrderUpdate:
        if self.cancel_latency_s > 0 and (cid in self._resting or cid in self._in_flight):
            self._schedule(ts + self.cancel_latency_s, "cancel", cid)
            o = self.order(cid)
            return OrderUpdate(o.symbol, cid, OrderStatus.CANCEL_PENDING, o.filled, o.venue_order_id, "cancel sent",
                               ts=ts)
        flight = self._in_flight.get(cid)
        if flight is not None:  # no cancel latency but the order has not arrived yet
            flight.cancel_on_arrival = True
            o = self._pending_view(flight)
            return OrderUpdate(o.symbol, cid, OrderStatus.CANCEL_PENDING, ZERO, None, "cancel sent", ts=ts)
        return self._cancel_now(cid, ts, "cancelled")

    def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return [r.order for r in self._resting.values() if symbol is None or r.order.symbol == symbol]

    def order(self, cid: str) -> VenueOrder:
        if cid in self._resting:
            return self._resting[cid].order
        if cid in self._in_flight:
            return self._pending_view(self._in_flight[cid])
        if cid in self._done:
            return self._done[cid]
        raise OrderNotFound(f"unknown client order id {cid}")

    def queue_ahead(self, cid: str) -> Decimal | None:
        """The estimated size (contracts) ahead of a resting order, ``None`` if not resting."""
        resting = self._resting.get(cid)
        return resting.queue.queue_ahead if resting else None

    def take_updates(self) -> list[OrderUpdate]:
        """Updates produced by order actions beyond their direct answer, oldest first."""
        out, self._outbox = self._outbox, []
        return out

    # time and market events ----------------------------------------------------------------
    def next_due(self) -> float | None:
        """When the next in-flight action reaches the matching engine (s), if any."""
        return self._due[0][0] if self._due else None

    def advance(self, ts: float) -> list[OrderUpdate]:
        """Let every in-flight action due by ``ts`` arrive, in time order, against the latest
        book of its instrument; returns the updates that produced."""
        updates: list[OrderUpdate] = []
        while self._due and self._due[0][0] <= ts:
            due, _, kind, cid, price = heapq.heappop(self._due)
            if kind == "place":
                updates.extend(self._arrive_in_flight(cid, due))
            elif kind == "amend":
                updates.extend(self._arrive_amend(cid, Decimal(price), due))
            else:
                updates.extend(self._arrive_cancel(cid, due))
        return updates

    def on_market(self, book: Book, trades: list[Trade]) -> list[OrderUpdate]:
        """Match resting orders of ``book.symbol`` against ``trades``, then against ``book``
        (displayed sizes at their prices, a crossing other side); returns one update per fill.
        In-flight actions due by ``book.ts`` arrive first."""
        updates = self.advance(book.ts) if self._due else []
        self._use_book(book)
        spec = self.specs.get(book.symbol)
        step = spec.lot_size if spec is not None else None
        mine = sorted((r for r in self._resting.values() if r.order.symbol == book.symbol), key=_priority)
        if not mine:
            return updates
        traded: set[str] = set()
        for trade in trades:
            taken = ZERO  # of this print, by our orders ahead in priority
            for resting in mine:
                cid = resting.order.client_order_id
                if cid not in self._resting or resting.order.side is trade.aggressor:
                    continue
                resting.queue, filled = apply_trade(resting.queue, trade, trade.size - taken)
                if filled > 0:
                    taken += filled
                    traded.add(cid)
                    updates.append(self._fill(resting, filled, resting.order.price, "maker", trade.ts, trade))
        crossed = {Side.BUY: ZERO, Side.SELL: ZERO}  # fresh crossing size taken by our orders ahead
        for resting in mine:
            cid = resting.order.client_order_id
            if cid not in self._resting:
                continue
            side, price = resting.order.side, resting.order.price
            displayed = _displayed(book, side, price)
            if displayed is not None:
                resting.queue = apply_displayed_size(resting.queue, displayed, self.queue_model, step)
            crossing = crossing_size(side, price, book.asks if side is Side.BUY else book.bids)
            if cid in traded:  # the prints already filled it for this move: only re-baseline
                resting.queue = replace(resting.queue, crossing=crossing)
                continue
            resting.queue, filled = apply_cross(resting.queue, crossing, crossed[side])
            if filled > 0:
                crossed[side] += filled
                cause = Trade(book.symbol, BOOK_CROSS, price, filled, side.opposite, book.ts)
                updates.append(self._fill(resting, filled, price, "maker", book.ts, cause))
        return updates

    # arrival at the matching engine ---------------------------------------------------------
    def _arrive(self, req: OrderRequest, book: Book, ts: float) -> list[OrderUpdate]:
        """The order reaches the matching engine: the acknowledgement first, then any fills."""
        if req.post_only:
            self._check_passive(req.side, req.price, book)
        venue_id = f"sim-{self._next_id}"
        self._next_id += 1
        order = VenueOrder(req.symbol, req.client_order_id, req.side, req.price, req.size, ZERO, OrderStatus.OPEN,
                           venue_id)
        ack = OrderUpdate(req.symbol, req.client_order_id, OrderStatus.OPEN, ZERO, venue_id, "accepted", ts=ts)
        resting = _Resting(order, join_queue(req.client_order_id, req.side, req.price, req.size, ZERO))
        other = book.asks if req.side is Side.BUY else book.bids
        taken = self._taken.setdefault(req.symbol, {})
        left = [Level(lv.price, lv.size - taken.get((req.side, lv.price), ZERO)) for lv in other]
        updates = [ack]
        for price, size in take_liquidity(req.side, req.price, req.size, left):
            taken[(req.side, price)] = taken.get((req.side, price), ZERO) + size
            cause = Trade(req.symbol, f"{req.client_order_id}-take{resting.fills + 1}", price, size, req.side, ts)
            updates.append(self._fill(resting, size, price, "taker", ts, cause, rest=False))
        order = resting.order
        if order.status is OrderStatus.FILLED:
            self._remember(order)
        elif req.time_in_force == "IOC":
            done = replace(order, status=OrderStatus.CANCELLED)
            self._remember(done)
            updates.append(OrderUpdate(req.symbol, req.client_order_id, OrderStatus.CANCELLED, done.filled, venue_id,
                                       "ioc remainder cancelled", ts=ts))
        else:
            displayed = book.size_at(req.side, req.price)
            crossing = crossing_size(req.side, req.price, other)
            resting.queue = join_queue(req.client_order_id, req.side, req.price, order.size - order.filled, displayed,
                                       crossing)
            resting.joined = self._next_join()
            self._resting[req.client_order_id] = resting
        return updates

    def _arrive_in_flight(self, cid: str, ts: float) -> list[OrderUpdate]:
        flight = self._in_flight.pop(cid, None)
        if flight is None:
            return []
        req = flight.request
        if flight.cancel_on_arrival:
            venue_id = f"sim-{self._next_id}"
            self._next_id += 1
            done = VenueOrder(req.symbol, cid, req.side, req.price, req.size, ZERO, OrderStatus.CANCELLED, venue_id)
            self._remember(done)
            return [OrderUpdate(req.symbol, cid, OrderStatus.CANCELLED, ZERO, venue_id, "cancelled", ts=ts)]
        book = self._books.get(req.symbol)
        if book is None:
            return self._reject(req, ts, "no market data")
        try:
            return self._arrive(req, book, ts)
        except OrderRejected as exc:
            return self._reject(req, ts, str(exc), post_only=isinstance(exc, PostOnlyRejected))

    def _arrive_amend(self, cid: str, price: Decimal, ts: float) -> list[OrderUpdate]:
        flight = self._in_flight.get(cid)
        if flight is not None:  # amended before it arrived: it arrives at the new price
            flight.request = replace(flight.request, price=price)
            return []
        resting = self._resting.get(cid)
        if resting is None:
            return []
        book = self._books[resting.order.symbol]
        try:
            self._check_passive(resting.order.side, price, book)
        except OrderRejected as exc:
            return [self._cancel_now(cid, ts, f"amend rejected: {exc}")]
        self._move(resting, price, book)
        return []

    def _arrive_cancel(self, cid: str, ts: float) -> list[OrderUpdate]:
        flight = self._in_flight.get(cid)
        if flight is not None:
            flight.cancel_on_arrival = True
            return []
        if cid not in self._resting:
            return []  # filled (or cancelled) before the cancel arrived
        return [self._cancel_now(cid, ts, "cancelled")]

    def _reject(self, req: OrderRequest, ts: float, reason: str, post_only: bool = False) -> list[OrderUpdate]:
        done = VenueOrder(req.symbol, req.client_order_id, req.side, req.price, req.size, ZERO, OrderStatus.REJECTED)
        self._remember(done)
        return [OrderUpdate(req.symbol, req.client_order_id, OrderStatus.REJECTED, ZERO, None, reason, ts=ts,
                            post_only_rejected=post_only)]

    # helpers ---------------------------------------------------------------------------------
    def _use_book(self, book: Book) -> None:
        """``book`` is now the instrument's latest; a new one shows every level afresh."""
        if self._books.get(book.symbol) is not book:
            self._books[book.symbol] = book
            self._taken.pop(book.symbol, None)

    def _next_join(self) -> int:
        self._joins += 1
        return self._joins

    def _schedule(self, due: float, kind: str, cid: str, price: Decimal | None = None) -> None:
        self._seq += 1
        heapq.heappush(self._due, (due, self._seq, kind, cid, str(price) if price is not None else ""))

    def _move(self, resting: _Resting, price: Decimal, book: Book) -> None:
        side = resting.order.side
        resting.order = replace(resting.order, price=price)
        other = book.asks if side is Side.BUY else book.bids
        resting.queue = join_queue(resting.order.client_order_id, side, price, resting.order.size - resting.order.filled,
                                   book.size_at(side, price), crossing_size(side, price, other))
        resting.joined = self._next_join()

    def _cancel_now(self, cid: str, ts: float, reason: str) -> OrderUpdate:
        resting = self._resting.pop(cid, None)
        if resting is None:
            return self._final_or_missing(cid, ts)
        o = replace(resting.order, status=OrderStatus.CANCELLED)
        self._remember(o)
        return OrderUpdate(o.symbol, cid, OrderStatus.CANCELLED, o.filled, o.venue_order_id, reason, ts=ts)

    @staticmethod
    def _pending_view(flight: _InFlight) -> VenueOrder:
        r = flight.request
        return VenueOrder(r.symbol, r.client_order_id, r.side, r.price, r.size, ZERO, OrderStatus.PENDING)

    def _fill(self, resting: _Resting, size: Decimal, price: Decimal, liquidity: str, ts: float, cause: Trade,
              rest: bool = True) -> OrderUpdate:
        o = resting.order
        spec = self.specs[o.symbol]
        resting.fills += 1
        filled = o.filled + size
        status = OrderStatus.FILLED if filled >= o.size else OrderStatus.OPEN
        resting.order = o = replace(o, filled=filled, status=status)
        if rest:
            resting.queue = replace(resting.queue, remaining=o.size - filled)
        f = Fill(o.symbol, f"{o.client_order_id}-f{resting.fills}", o.client_order_id, o.side, price, size,
                 fee(spec, size, price, liquidity), spec.settle, liquidity, ts)
        self.positions[o.symbol] += f.signed_size
        self.fills.append(f)
        self.fill_causes[f.trade_id] = cause
        if len(self.fills) > MAX_FILLS:
            for old in self.fills[:-MAX_FILLS]:
                self.fill_causes.pop(old.trade_id, None)
            del self.fills[:-MAX_FILLS]
        if status is OrderStatus.FILLED and rest:
            del self._resting[o.client_order_id]
            self._remember(o)
        return OrderUpdate(o.symbol, o.client_order_id, status, filled, o.venue_order_id, "fill", fill=f, ts=ts)

    @staticmethod
    def _check_passive(side: Side, price: Decimal, book: Book) -> None:
        other = book.best_ask if side is Side.BUY else book.best_bid
        if other is not None and (price - other) * side.sign >= 0:
            raise PostOnlyRejected(f"post-only {side.value} at {price} would cross {other}")

    def _final_or_missing(self, cid: str, ts: float) -> OrderUpdate:
        o = self.order(cid)
        return OrderUpdate(o.symbol, cid, o.status, o.filled, o.venue_order_id, "already done", ts=ts)

    def _remember(self, order: VenueOrder) -> None:
        self._done[order.client_order_id] = order
        while len(self._done) > MAX_DONE_ORDERS:
            del self._done[next(iter(self._done))]

    # persistence -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "next_id": self._next_id,
            "positions": {s: str(p) for s, p in self.positions.items()},
            "resting": [
                {"order": encode(r.order), "queue_ahead": str(r.queue.queue_ahead), "fills": r.fills,
                 "level_size": None if r.queue.level_size is None else str(r.queue.level_size),
                 "traded_since": str(r.queue.traded_since), "crossing": str(r.queue.crossing),
                 "joined": r.joined}
                for r in self._resting.values()
            ],
            "in_flight": [
                {"request": encode(f.request), "sent_ts": f.sent_ts, "cancel_on_arrival": f.cancel_on_arrival}
                for f in self._in_flight.values()
            ],
            "due": [list(d) for d in self._due],
            "done": [encode(o) for o in self._done.values()],
            "fills": [encode(f) for f in self.fills],
        }

    def load(self, data: dict[str, Any]) -> None:
        self._next_id = data["next_id"]
        self.positions.update({s: Decimal(p) for s, p in data["positions"].items() if s in self.specs})
        for r in data["resting"]:
            o = decode(VenueOrder, r["order"])
            level = r.get("level_size")
            queue = QueuedOrder(o.client_order_id, o.side, o.price, o.size - o.filled, Decimal(r["queue_ahead"]),
                                None if level is None else Decimal(level), Decimal(r.get("traded_since", "0")),
                                Decimal(r.get("crossing", "0")))
            self._resting[o.client_order_id] = _Resting(o, queue, r["fills"], r.get("joined", 0))
            self._joins = max(self._joins, r.get("joined", 0))
        for f in data.get("in_flight", []):
            req = decode(OrderRequest, f["request"])
            self._in_flight[req.client_order_id] = _InFlight(req, f["sent_ts"], f["cancel_on_arrival"])
        self._due = [tuple(d) for d in data.get("due", [])]  # type: ignore[misc]
        heapq.heapify(self._due)
        self._seq = max((d[1] for d in self._due), default=0)
        for d in data["done"]:
            self._remember(decode(VenueOrder, d))
        self.fills = [decode(Fill, f) for f in data["fills"]]


def _priority(resting: _Resting) -> tuple[Decimal, int]:
    """Among our orders on one side: better price first, then earlier in the queue."""
    return (-resting.order.price * resting.order.side.sign, resting.joined)


def _displayed(book: Book, side: Side, price: Decimal) -> Decimal | None:
    """Displayed size at ``price`` on ``side``'s own side; ``None`` when ``price`` lies beyond the
    deepest level shown (a truncated book says nothing about it)."""
    levels = book.bids if side is Side.BUY else book.asks
    for level in levels:
        if level.price == price:
            return level.size
        if (level.price - price) * side.sign < 0:
            return ZERO  # passed our price: the level is empty
    return None if levels else ZERO
