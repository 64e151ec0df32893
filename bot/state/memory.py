"""An in-memory :class:`~bot.state.base.Store`, for replay and benchmarks (nothing persists)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import replace
from typing import Callable

from bot.core.policies import TargetDecision
from bot.core.types import Fill, Order
from bot.state.base import KillSwitch, PositionRecord, SavedTarget


class MemoryStore:
    def __init__(self) -> None:
        self._seq = itertools.count(1)
        self.orders: dict[str, dict[str, Order]] = defaultdict(dict)
        self.fills: dict[str, list[Fill]] = defaultdict(list)
        self._fill_ids: set[tuple[str, str]] = set()
        self.positions: dict[str, PositionRecord] = {}
        self.targets: dict[str, SavedTarget] = {}
        self.kills: dict[str, KillSwitch] = {}

    async def next_client_order_id(self, symbol: str) -> str:
        return f"sbmem-{next(self._seq)}"

    async def place_intent(self, order: Order, scopes: tuple[str, ...], reducing: bool,
                           at_once: bool = True) -> tuple[str | None, KillSwitch | None]:
        switch = await self.kill_switch(scopes)
        if switch is not None and not (switch.action == "flatten" and reducing):
            return None, switch
        cid = await self.next_client_order_id(order.symbol)
        await self.save_order(replace(order, client_order_id=cid))
        return cid, switch

    async def save_order(self, order: Order) -> None:
        self.queue_order(order)

    def queue_order(self, order: Order, failed: Callable[[BaseException], None] | None = None) -> None:
        if order.status.is_live:
            self.orders[order.symbol][order.client_order_id] = order
        else:
            self.orders[order.symbol].pop(order.client_order_id, None)

    async def flush(self) -> None:
        return None

    async def load_orders(self, symbol: str) -> list[Order]:
        return list(self.orders[symbol].values())

    async def record_fill(self, fill: Fill, position: PositionRecord) -> bool:
        if (fill.symbol, fill.trade_id) in self._fill_ids:
            return False
        self._fill_ids.add((fill.symbol, fill.trade_id))
        self.fills[fill.symbol].append(fill)
        self.positions[fill.symbol] = position
        return True

    def queue_fill(self, fill: Fill, position: PositionRecord, failed: Callable[[BaseException], None] | None = None) -> None:
        if (fill.symbol, fill.trade_id) not in self._fill_ids:
            self._fill_ids.add((fill.symbol, fill.trade_id))
            self.fills[fill.symbol].append(fill)
            self.positions[fill.symbol] = position

    async def load_position(self, symbol: str) -> PositionRecord:
        return self.positions.get(symbol, PositionRecord())

    async def save_position(self, symbol: str, position: PositionRecord) -> None:
        self.positions[symbol] = position

    async def save_target(self, symbol: str, decision: TargetDecision, policy: str, ts: float) -> None:
        self.queue_target(symbol, decision, policy, ts, lambda exc: None)

    def queue_target(self, symbol: str, decision: TargetDecision, policy: str, ts: float,
                     failed: Callable[[BaseException], None]) -> None:
        self.targets[symbol] = SavedTarget(decision.target, ts, decision.urgency)

    async def load_target(self, symbol: str) -> SavedTarget | None:
        return self.targets.get(symbol)

    async def kill_switch(self, scopes: tuple[str, ...], at_once: bool = True,
                          fenced_for: str | None = None) -> KillSwitch | None:
        return next((self.kills[s] for s in scopes if s in self.kills), None)

    async def engage_kill(self, scope: str, reason: str, by: str, action: str = "cancel") -> None:
        self.kills[scope] = KillSwitch(scope, reason, by, 0.0, action)
