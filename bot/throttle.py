"""The per-account budget for order actions: an asyncio-throttle limiter whose remaining budget
the executor can read, so that it plans within it instead of queueing behind it."""

from __future__ import annotations

from typing import Any, Protocol

from asyncio_throttle import Throttler


class ActionBudget(Protocol):
    """A limiter used as ``async with budget:`` around every order action."""

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, *exc: Any) -> Any: ...

    def available(self) -> int:
        """Actions that may still start now without waiting."""


class OrderBudget(Throttler):
    """At most ``rate_limit`` order actions per ``period`` seconds (monotonic clock); waits when
    spent, and tells what is left."""

    def available(self) -> int:
        self.flush()
        return max(0, int(self.rate_limit) - len(self._task_logs))
