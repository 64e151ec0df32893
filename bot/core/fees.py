"""Trading fees, in the instrument's settlement currency (quote for linear, coin for inverse)."""

from __future__ import annotations

from decimal import Decimal

from bot.core.types import InstrumentSpec

_BPS = Decimal(10_000)


def fee(spec: InstrumentSpec, size: Decimal, price: Decimal, liquidity: str) -> Decimal:
    """Fee for a fill of ``size`` contracts at ``price`` as ``maker`` or ``taker``.

    Positive is a cost, negative a rebate; units are ``spec.settle``.
    """
    bps = spec.maker_fee_bps if liquidity == "maker" else spec.taker_fee_bps
    return spec.notional(size, price) * bps / _BPS
