"""Pre-trade risk checks: pure functions that stand between a planned order and the venue.

Each returns ``None`` when the action may go, or a :class:`RiskRejection` naming the limit, its
value and the value that broke it (logged as ``risk.rejected``). Cancels are never checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.core.types import Book


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """``max_position`` and ``max_order_size`` in contracts; ``stale_after_s`` in seconds;
    ``price_band_bps`` the largest distance of a limit price from mid, basis points."""

    max_position: Decimal
    max_order_size: Decimal
    stale_after_s: float = 2.0
    price_band_bps: Decimal = Decimal(50)


@dataclass(frozen=True, slots=True)
class RiskRejection:
    limit: str
    limit_value: str
    actual: str


def check_order(
    *,
    limits: RiskLimits,
    book: Book | None,
    position: Decimal,
    working: Decimal,
    signed_size: Decimal,
    price: Decimal,
    now: float,
) -> RiskRejection | None:
    """Checks for a new or repriced order of ``signed_size`` contracts at ``price``.

    ``working`` is the signed remaining size of the live orders on this order's side (not
    counting this one): the worst case is that they all fill and the other side's do not.
    """
    if book is None or book.mid is None:
        return RiskRejection("market_data", "book with both sides", "none")
    age = now - book.ts
    if age > limits.stale_after_s:
        return RiskRejection("stale_after_s", f"{limits.stale_after_s}", f"{age:.3f}")
    if abs(signed_size) > limits.max_order_size:
        return RiskRejection("max_order_size", str(limits.max_order_size), str(abs(signed_size)))
    worst = position + working + signed_size
    if abs(worst) > limits.max_position:
        return RiskRejection("max_position", str(limits.max_position), str(abs(worst)))
    distance_bps = abs(price - book.mid) / book.mid * 10_000
    if distance_bps > limits.price_band_bps:
        return RiskRejection("price_band_bps", str(limits.price_band_bps), f"{distance_bps:.2f}")
    return None
