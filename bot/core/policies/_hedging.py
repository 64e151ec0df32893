"""Small helpers shared by the volatility, hedging and tilt policies (pure, float-safe)."""

from __future__ import annotations

import math
from decimal import Decimal

from bot.core.rounding import size_to_lot
from bot.core.types import InstrumentState

BIG = 1e300
"""Stand-in for an overflowing number in logged inputs (they must stay finite)."""


def book_mid(state: InstrumentState) -> float | None:
    """The book's mid (quote per coin) if the book is two-sided and the mid positive and finite."""
    if state.book is None or state.book.mid is None:
        return None
    mid = float(state.book.mid)
    return mid if 0 < mid < math.inf else None


def price(state: InstrumentState) -> float | None:
    """The book's mid, else the latest sampled mid, else ``None``."""
    mid = book_mid(state)
    if mid is not None:
        return mid
    for m in reversed(state.mid_history):
        if 0 < m < math.inf:
            return m
    return None


def held(state: InstrumentState, max_position: Decimal) -> Decimal:
    """The hedge in force: the current target (the position before any target), as is when
    within ±``max_position``, else clipped to it and put on the lot grid."""
    current = state.target if state.target is not None else state.position
    if abs(current) <= max_position:
        return current
    return size_to_lot(max(-max_position, min(max_position, current)), state.spec.lot_size)


def finite(x: float) -> float:
    """``x`` with ±inf replaced by ±``BIG`` and NaN by 0, for the logged inputs."""
    if math.isnan(x):
        return 0.0
    return max(-BIG, min(BIG, x))


def clean(inputs: dict[str, float]) -> dict[str, float]:
    return {k: finite(float(v)) for k, v in inputs.items()}


def ratio(num: float, den: float) -> float:
    """``num / den`` clamped to ±``BIG`` (``den`` non-zero)."""
    try:
        return finite(num / den)
    except OverflowError:
        return math.copysign(BIG, num) * math.copysign(1.0, den)


def within_band(new: Decimal, previous: Decimal | None, band: float, max_position: Decimal) -> bool:
    """True when a non-zero ``previous`` target within the cap is within ``band`` (fraction) of ``new``."""
    if previous is None or previous == 0 or abs(previous) > max_position:
        return False
    return abs(new - previous) <= abs(previous) * Decimal(repr(band))
