"""Snap prices and sizes to the venue's grid, exactly (Decimal in, Decimal out).

Prices are rounded toward the passive side (a bid down, an ask up) so rounding can never make a
post-only order cross; sizes are truncated toward zero to the lot so rounding never adds size.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from bot.core.types import Side


def _to_step(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    """Exact at any number of digits: the integer quotient and remainder are never rounded."""
    if step <= 0:
        raise ValueError(f"step must be positive (got {step})")
    steps, rest = divmod(value, step)  # steps truncated toward zero; rest has value's sign
    if rounding == ROUND_FLOOR and rest < 0:
        steps -= 1
    elif rounding == ROUND_CEILING and rest > 0:
        steps += 1
    return steps * step


def passive_price(side: Side, price: Decimal, tick: Decimal) -> Decimal:
    """``price`` on the tick grid, floored for a buy and ceiled for a sell (quote currency)."""
    return _to_step(price, tick, ROUND_FLOOR if side is Side.BUY else ROUND_CEILING)


def size_to_lot(size: Decimal, lot: Decimal) -> Decimal:
    """``size`` (contracts, signed) truncated toward zero to a whole number of lots."""
    return _to_step(size, lot, ROUND_DOWN)
