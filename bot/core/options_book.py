"""An options book held alongside the traded instruments, valued with the Greeks engine.

Pure (no I/O, no clock): the caller passes the forward and the time. Rows are revalued through
:class:`~bot.core.greeks.BookGreeks` only when their inputs change; time to expiry moves in
steps of ``time_step_s`` so that an unchanged forward costs no recomputation.

Units: quantities in coins of the underlying (signed, negative = short), strikes and forwards in
USD, implied vol a fraction, time in seconds since the epoch. Coin-settled (inverse, Deribit
style) options report the premium-adjusted coin delta ``delta − price/F`` — hedging that total to
zero keeps the coin balance stable; USD-settled options report the plain Black-76 delta.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bot.core.greeks import BookGreeks

SECONDS_PER_YEAR = 365.0 * 24 * 3600


@dataclass(frozen=True, slots=True)
class OptionPosition:
    key: str
    underlying: str
    strike: float
    expiry_ts: float
    is_call: bool
    quantity: float
    """Coins of underlying, signed."""
    iv: float
    coin_settled: bool = True


@dataclass(frozen=True, slots=True)
class OptionsGreeks:
    """Totals of one underlying's options: delta in coins, gamma in coins per USD, vega in USD
    per vol point, theta in USD per calendar day."""

    delta_coin: float = 0.0
    gamma_coin: float = 0.0
    vega_usd_per_vol_point: float = 0.0
    theta_usd_per_day: float = 0.0


class OptionsBook:
    def __init__(self, positions: list[OptionPosition], time_step_s: float = 60.0):
        self._positions = positions
        self._time_step_s = time_step_s
        self._cache = BookGreeks()

    def greeks(self, underlying: str, forward: float, now: float) -> OptionsGreeks:
        """Totals for the options on ``underlying`` at ``forward`` (USD) and time ``now`` (s)."""
        rows = [p for p in self._positions if p.underlying == underlying]
        if not rows or not math.isfinite(forward) or forward <= 0:
            return OptionsGreeks()
        clock = math.floor(now / self._time_step_s) * self._time_step_s
        keys = [p.key for p in rows]
        self._cache.update(
            keys, forward, [p.strike for p in rows], [(p.expiry_ts - clock) / SECONDS_PER_YEAR for p in rows],
            [p.iv for p in rows], is_call=[p.is_call for p in rows],
        )
        g = self._cache.greeks(keys)
        qty = np.array([p.quantity for p in rows])
        coin = np.array([p.coin_settled for p in rows])
        coin_delta = g.delta - g.price / forward
        delta = np.where(coin, coin_delta, g.delta)
        gamma = np.where(coin, g.gamma - coin_delta / forward, g.gamma)
        return OptionsGreeks(
            delta_coin=float(np.sum(qty * delta)),
            gamma_coin=float(np.sum(qty * gamma)),
            vega_usd_per_vol_point=float(np.sum(qty * g.vega_per_point)),
            theta_usd_per_day=float(np.sum(qty * g.theta_per_day)),
        )
