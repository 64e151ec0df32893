"""Shared sizing arithmetic for policies: units conversion, caps and the lot grid."""

from __future__ import annotations

import math
from decimal import Decimal

from bot.core.rounding import size_to_lot
from bot.core.types import InstrumentSpec


def contracts_for_coins(spec: InstrumentSpec, coins: float, price: float) -> float:
    """Contracts giving an exposure of ``coins`` (signed) at ``price`` (quote per coin).

    Linear: coins / contract_size. Inverse: coins × price / contract_size (contract_size in USD).
    """
    if spec.inverse:
        return coins * price / float(spec.contract_size)
    return coins / float(spec.contract_size)


def contracts_for_usd(spec: InstrumentSpec, usd: float, price: float) -> float:
    """Contracts giving a USD notional of ``usd`` (signed) at ``price``."""
    return contracts_for_coins(spec, usd / price, price)


def to_target(spec: InstrumentSpec, contracts: float, max_position: Decimal) -> Decimal:
    """A finite float size (contracts) clipped to ±``max_position`` and truncated to the lot.

    Non-finite input (NaN, ±inf) gives zero: a policy that cannot size holds no position.
    """
    if not math.isfinite(contracts):
        return Decimal(0)
    capped = max(-max_position, min(max_position, Decimal(repr(contracts))))
    return size_to_lot(capped, spec.lot_size)
