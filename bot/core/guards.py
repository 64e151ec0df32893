"""Automatic kill-switch triggers for one instrument: pure counters and checks.

The engine records rejections, venue errors and successes in a :class:`GuardState` and asks
:func:`tripped` on every decision whether a guard has broken; a broken guard engages the
instrument's kill switch with the reason returned.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

ERROR_WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class GuardLimits:
    """``None`` disables a guard. Times in seconds; position in contracts."""

    max_consecutive_rejects: int | None = 5
    max_errors_per_minute: int | None = 20
    stale_data_kill_after_s: float | None = 30.0
    hard_position_limit: Decimal | None = None


@dataclass(frozen=True, slots=True)
class GuardState:
    consecutive_rejects: int = 0
    error_times: tuple[float, ...] = ()


def after_reject(state: GuardState) -> GuardState:
    """The venue refused an order."""
    return replace(state, consecutive_rejects=state.consecutive_rejects + 1)


def after_accept(state: GuardState) -> GuardState:
    """The venue accepted an order: the reject streak ends."""
    return replace(state, consecutive_rejects=0)


def after_error(state: GuardState, now: float) -> GuardState:
    """A venue call failed (network, timeout, unknown outcome)."""
    recent = tuple(t for t in state.error_times if now - t < ERROR_WINDOW_S)
    return replace(state, error_times=recent + (now,))


def tripped(limits: GuardLimits, state: GuardState, *, now: float, book_ts: float | None, position: Decimal,
            started_ts: float) -> str | None:
    """The reason a guard has broken, or ``None``. Without any book yet, data counts as stale
    from ``started_ts``."""
    if limits.max_consecutive_rejects is not None and state.consecutive_rejects >= limits.max_consecutive_rejects:
        return f"{state.consecutive_rejects} consecutive order rejects (limit {limits.max_consecutive_rejects})"
    errors = sum(1 for t in state.error_times if now - t < ERROR_WINDOW_S)
    if limits.max_errors_per_minute is not None and errors > limits.max_errors_per_minute:
        return f"{errors} venue errors in the last minute (limit {limits.max_errors_per_minute})"
    if limits.stale_data_kill_after_s is not None:
        age = now - (book_ts if book_ts is not None else started_ts)
        if age > limits.stale_data_kill_after_s:
            return f"market data {age:.1f}s old (limit {limits.stale_data_kill_after_s}s)"
    if limits.hard_position_limit is not None and abs(position) > limits.hard_position_limit:
        return f"position {position} beyond the hard limit {limits.hard_position_limit}"
    return None
