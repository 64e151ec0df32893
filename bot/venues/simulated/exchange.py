"""The simulated exchange's matching and account: synchronous, deterministic, serialisable.

Our resting orders are matched against the synthetic market's trade prints by the shared fill
model (:mod:`bot.core.fill_model`): price-time priority behind the displayed queue, fills only on
trades at or through the order's price. Post-only orders that would cross are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from bot.core.codec import decode, encode
from bot.core.fees import fee
from bot.core.fill_model import QueuedOrder, apply_displayed_size, apply_trade
from bot.core.types import ZERO, Book, Fill, InstrumentSpec, OrderStatus, OrderUpdate, Side, Trade
from bot.venues.base import OrderNotFound, OrderRejected, OrderRequest, PostOnlyRejected, VenueOrder

MAX_DONE_ORDERS = 2000
MAX_FILLS = 5000


@dataclass(slots=True)
class _Resting:
    order: VenueOrder
    queue: QueuedOrder
    fills: int = 0


class SimulatedExchange:
    """Orders, positions and fills of one simulated account."""

    def __init__(self, specs: dict[str, InstrumentSpec]):
        self.specs = specs
        self._resting: dict[str, _Resting] = {}
        self._done: dict[str, VenueOrder] = {}
        self.positions: dict[str, Decimal] = {s: ZERO for s in specs}
        self.fills: list[Fill] = []
        self._next_id = 1

    # order actions -------------------------------------------------------------------------
    def place(self, req: OrderRequest, book: Book, ts: float) -> OrderUpdate:
        if req.client_order_id in self._resting or req.client_order_id in self._done:
            raise OrderRejected(f"duplicate client order id {req.client_order_id}")
        self._check_passive(req.side, req.price, book)
        venue_id = f"sim-{self._next_id}"
        self._next_id += 1
        order = VenueOrder(req.symbol, req.client_order_id, req.side, req.price, req.size, ZERO, OrderStatus.OPEN, venue_id)
        queue = QueuedOrder(req.client_order_id, req.side, req.price, req.size, book.size_at(req.side, req.price))
        self._resting[req.client_order_id] = _Resting(order, queue)
        return OrderUpdate(req.symbol, req.client_order_id, OrderStatus.OPEN, ZERO, venue_id, "accepted", ts=ts)

    def amend(self, cid: str, price: Decimal, book: Book, ts: float) -> OrderUpdate:
        resting = self._resting.get(cid)
        if resting is None:
            return self._final_or_missing(cid, ts)
        self._check_passive(resting.order.side, price, book)
        resting.order = replace(resting.order, price=price)
        resting.queue = replace(resting.queue, price=price, queue_ahead=book.size_at(resting.order.side, price))
        o = resting.order
        return OrderUpdate(o.symbol, cid, OrderStatus.OPEN, o.filled, o.venue_order_id, "amended", ts=ts)

    def cancel(self, cid: str, ts: float) -> OrderUpdate:
        resting = self._resting.pop(cid, None)
        if resting is None:
            return self._final_or_missing(cid, ts)
        o = replace(resting.order, status=OrderStatus.CANCELLED)
        self._remember(o)
        return OrderUpdate(o.symbol, cid, OrderStatus.CANCELLED, o.filled, o.venue_order_id, "cancelled", ts=ts)

    def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return [r.order for r in self._resting.values() if symbol is None or r.order.symbol == symbol]

    def order(self, cid: str) -> VenueOrder:
        if cid in self._resting:
            return self._resting[cid].order
        if cid in self._done:
            return self._done[cid]
        raise OrderNotFound(f"unknown client order id {cid}")

    # market events -------------------------------------------------------------------------
    def on_market(self, book: Book, trades: list[Trade]) -> list[OrderUpdate]:
        """Match resting orders of ``book.symbol`` against ``trades``, then against ``book``'s
        displayed sizes; returns one update per fill."""
        updates = []
        for cid, resting in list(self._resting.items()):
            if resting.order.symbol != book.symbol:
                continue
            for trade in trades:
                resting.queue, filled = apply_trade(resting.queue, trade)
                if filled > 0:
                    updates.append(self._fill(resting, filled, trade.ts))
                if cid not in self._resting:
                    break
            if cid in self._resting:
                resting.queue = apply_displayed_size(resting.queue, book.size_at(resting.order.side, resting.order.price))
        return updates

    def _fill(self, resting: _Resting, size: Decimal, ts: float) -> OrderUpdate:
        o = resting.order
        spec = self.specs[o.symbol]
        resting.fills += 1
        filled = o.filled + size
        status = OrderStatus.FILLED if filled >= o.size else OrderStatus.OPEN
        resting.order = o = replace(o, filled=filled, status=status)
        f = Fill(o.symbol, f"{o.client_order_id}-f{resting.fills}", o.client_order_id, o.side, o.price, size,
                 fee(spec, size, o.price, "maker"), spec.settle, "maker", ts)
        self.positions[o.symbol] += f.signed_size
        self.fills.append(f)
        del self.fills[:-MAX_FILLS]
        if status is OrderStatus.FILLED:
            del self._resting[o.client_order_id]
            self._remember(o)
        return OrderUpdate(o.symbol, o.client_order_id, status, filled, o.venue_order_id, "fill", fill=f, ts=ts)

    # helpers ---------------------------------------------------------------------------------
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
                {"order": encode(r.order), "queue_ahead": str(r.queue.queue_ahead), "fills": r.fills}
                for r in self._resting.values()
            ],
            "done": [encode(o) for o in self._done.values()],
            "fills": [encode(f) for f in self.fills],
        }

    def load(self, data: dict[str, Any]) -> None:
        self._next_id = data["next_id"]
        self.positions.update({s: Decimal(p) for s, p in data["positions"].items() if s in self.specs})
        for r in data["resting"]:
            o = decode(VenueOrder, r["order"])
            queue = QueuedOrder(o.client_order_id, o.side, o.price, o.size - o.filled, Decimal(r["queue_ahead"]))
            self._resting[o.client_order_id] = _Resting(o, queue, r["fills"])
        for d in data["done"]:
            self._remember(decode(VenueOrder, d))
        self.fills = [decode(Fill, f) for f in data["fills"]]
