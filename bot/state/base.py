"""The state interface the engine and reconciliation use; Redis in production, memory in replay."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Awaitable, Callable, Protocol

from bot.core.planner import Urgency
from bot.core.pnl import PnlBook
from bot.core.policies import TargetDecision
from bot.core.types import ZERO, Fill, Order
from bot.errors import ScalebotError


KILL_ACTIONS = ("cancel", "flatten")


class Fenced(ScalebotError):
    """A write by an instance whose lease on the instrument is no longer current: refused."""


@dataclass(frozen=True, slots=True)
class KillSwitch:
    """An engaged kill switch. ``scope`` is ``global``, ``account:NAME`` or an instrument symbol;
    ``action`` is ``cancel`` (cancel every working order, place nothing) or ``flatten`` (cancel,
    then close the position with reduce-only passive orders that escalate)."""

    scope: str
    reason: str
    by: str
    ts: float
    action: str = "cancel"


def kill_scopes(symbol: str, account: str) -> tuple[str, ...]:
    """The switches that stop ``symbol``, widest first."""
    return ("global", f"account:{account}", symbol)


@dataclass(frozen=True, slots=True)
class PositionRecord:
    """A position in contracts, the time (s) of the last fill applied to it, the fees paid in
    the settlement currency and the P&L record built from the fills."""

    size: Decimal = ZERO
    last_fill_ts: float = 0.0
    fees: Decimal = ZERO
    pnl: PnlBook = PnlBook()


@dataclass(frozen=True, slots=True)
class SavedTarget:
    """The target in force when last saved: contracts, the time (s) it was set, which dates its
    urgency, and the urgency it came with (``None``: the instrument's default)."""

    target: Decimal
    ts: float | None = None
    urgency: Urgency | None = None


class Store(Protocol):
    """Journal of targets, orders, fills and positions, and the kill switches."""

    async def next_client_order_id(self, symbol: str) -> str:
        """A client order id never used before (unique across restarts)."""

    def place_intent(self, order: Order, scopes: tuple[str, ...], reducing: bool,
                     at_once: bool = True) -> Awaitable[tuple[str | None, KillSwitch | None]]:
        """A new order's last check and its intent, as one step: refused (``None``) while the
        first engaged switch among ``scopes`` holds, unless that switch flattens and the order
        is ``reducing``; otherwise journalled under a new client order id, which is returned.
        Also returns the switch found, if any. ``order.client_order_id`` is ignored.
        ``at_once``: answer before returning when the store can (latency), rather than batched
        with other calls (throughput)."""

    async def save_order(self, order: Order) -> None:
        """Journal an order: its intent before it is sent, then every change."""

    def queue_order(self, order: Order, failed: Callable[[BaseException], None] | None = None) -> None:
        """Journal an order's change without waiting (changes after the venue's answer), in
        order with the instrument's other writes; a failure goes to ``failed``, else is logged."""

    async def flush(self) -> None:
        """Wait until every write made so far, queued ones too, has been answered."""

    async def load_orders(self, symbol: str) -> list[Order]: ...

    async def record_fill(self, fill: Fill, position: PositionRecord) -> bool:
        """Append ``fill`` and store the position it produced, atomically; False, writing
        nothing, when its trade id was recorded before."""

    def queue_fill(self, fill: Fill, position: PositionRecord,
                   failed: Callable[[BaseException], None] | None = None) -> None:
        """:meth:`record_fill` without waiting, in order with the instrument's other writes;
        ``failed`` gets the error if it fails."""

    async def load_position(self, symbol: str) -> PositionRecord: ...

    async def save_position(self, symbol: str, position: PositionRecord) -> None: ...

    async def save_target(self, symbol: str, decision: TargetDecision, policy: str, ts: float) -> None: ...

    def queue_target(self, symbol: str, decision: TargetDecision, policy: str, ts: float,
                     failed: Callable[[BaseException], None]) -> None:
        """:meth:`save_target` without waiting, in order with the instrument's other writes;
        ``failed`` gets the error if it fails (:class:`Fenced` when the lease is lost)."""

    async def load_target(self, symbol: str) -> SavedTarget | None: ...

    def kill_switch(self, scopes: tuple[str, ...], at_once: bool = True,
                    fenced_for: str | None = None) -> Awaitable[KillSwitch | None]:
        """The first engaged switch among ``scopes`` (see :func:`kill_scopes`), or ``None``; with
        ``fenced_for``, :class:`Fenced` if this instance no longer holds that symbol's lease."""

    async def engage_kill(self, scope: str, reason: str, by: str, action: str = "cancel") -> None: ...
