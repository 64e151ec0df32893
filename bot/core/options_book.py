"""An options book held alongside the traded instruments, valued with the Greeks engine.

Pure (no I/O, no clock): the caller passes the forward and the time. Rows are revalued through
:class:`~bot.core.greeks.BookGreeks` only when their inputs change; time to expiry moves in
steps of ``time_step_s`` so that an unchanged forward costs no recomputation.

Greeks come from one of two sources (``source``): ``local`` (default) values every option with
the Black-76 model at the latest mark IV (the venue's when it has sent one, else the configured
IV); ``venue`` takes the venue's own Greeks where it has sent them (normalised to core units by
the adapter) and falls back to local values otherwise. :meth:`OptionsBook.set_venue` returns the
Greeks on which the two sources disagree beyond a tolerance, for the caller to log.

Delta unit (``delta_unit``): ``coin`` (default) reports coin-settled options with the
premium-adjusted delta, so hedging the total to zero keeps the coin balance stable (Deribit's
convention); ``usd_pnl`` reports every option with its Black-76 delta, so hedging the total (plus
the coin collateral the caller adds) to zero keeps USD P&L stable. See docs/greeks.md.

Units: quantities in coins of the underlying (signed, negative = short), strikes and forwards in
USD, implied vol a fraction, time in seconds since the epoch. Coin-settled (inverse, Deribit
style) options report the premium-adjusted coin delta ``delta − price/F`` — hedging that total to
zero keeps the coin balance stable; USD-settled options report the plain Black-76 delta.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bot.core.greeks import BookGreeks, GreekDifference, Greeks, VenueGreeks, black76, compare_greeks, local_values

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
    venue_symbol: str | None = None
    """The venue's name for the option, to match its tickers (e.g. ``BTC-27DEC26-60000-C``)."""


@dataclass(frozen=True, slots=True)
class OptionsGreeks:
    """Totals of one underlying's options: delta in coins, gamma in coins per USD, vega in USD
    per vol point, theta in USD per calendar day."""

    delta_coin: float = 0.0
    gamma_coin: float = 0.0
    vega_usd_per_vol_point: float = 0.0
    theta_usd_per_day: float = 0.0


class OptionsBook:
    def __init__(self, positions: list[OptionPosition], time_step_s: float = 60.0, source: str = "local",
                 tolerance: float = 0.05, delta_unit: str = "coin"):
        self._positions = positions
        self._time_step_s = time_step_s
        self._source = source
        self._tolerance = tolerance
        self._delta_unit = delta_unit
        self._cache = BookGreeks()
        self._venue: dict[str, VenueGreeks] = {}

    def set_venue(self, venue_symbol: str, greeks: VenueGreeks, now: float) -> list[GreekDifference]:
        """Store the venue's Greeks (core units) for an option; returns where local values, at the
        venue's underlying price and mark IV, differ by more than the tolerance (relative)."""
        row = next((p for p in self._positions if p.venue_symbol == venue_symbol), None)
        if row is None:
            return []
        self._venue[venue_symbol] = greeks
        if not (greeks.underlying_price > 0 and greeks.mark_iv > 0):
            return []
        t = (row.expiry_ts - now) / SECONDS_PER_YEAR
        local = black76(greeks.underlying_price, row.strike, t, greeks.mark_iv, is_call=row.is_call)
        return compare_greeks(local_values(local, greeks.mark_iv), greeks, rel_tol=self._tolerance)

    def _iv(self, p: OptionPosition) -> float:
        venue = self._venue.get(p.venue_symbol or "")
        return venue.mark_iv if venue is not None and venue.mark_iv > 0 else p.iv

    def greeks(self, underlying: str, forward: float, now: float) -> OptionsGreeks:
        """Totals for the options on ``underlying`` at ``forward`` (USD) and time ``now`` (s)."""
        rows = [p for p in self._positions if p.underlying == underlying]
        if not rows or not math.isfinite(forward) or forward <= 0:
            return OptionsGreeks()
        clock = math.floor(now / self._time_step_s) * self._time_step_s
        keys = [p.key for p in rows]
        self._cache.update(
            keys, forward, [p.strike for p in rows], [(p.expiry_ts - clock) / SECONDS_PER_YEAR for p in rows],
            [self._iv(p) for p in rows], is_call=[p.is_call for p in rows],
        )
        g = self._cache.greeks(keys)
        if self._source == "venue":
            g = self._with_venue_values(rows, g)
        qty = np.array([p.quantity for p in rows])
        coin = np.array([p.coin_settled and self._delta_unit == "coin" for p in rows])
        coin_delta = g.delta - g.price / forward
        delta = np.where(coin, coin_delta, g.delta)
        gamma = np.where(coin, g.gamma - coin_delta / forward, g.gamma)
        return OptionsGreeks(
            delta_coin=float(np.sum(qty * delta)),
            gamma_coin=float(np.sum(qty * gamma)),
            vega_usd_per_vol_point=float(np.sum(qty * g.vega_per_point)),
            theta_usd_per_day=float(np.sum(qty * g.theta_per_day)),
        )

    def _with_venue_values(self, rows: list[OptionPosition], g: Greeks) -> Greeks:
        """Per-unit Greeks with the venue's values substituted where it has sent them."""
        columns = {name: np.array(getattr(g, name), dtype=float) for name in ("price", "delta", "gamma", "vega", "theta")}
        for i, p in enumerate(rows):
            venue = self._venue.get(p.venue_symbol or "")
            if venue is None:
                continue
            for name, value in (("price", venue.mark_price_usd), ("delta", venue.delta), ("gamma", venue.gamma),
                                ("vega", venue.vega), ("theta", venue.theta)):
                if math.isfinite(value):
                    columns[name][i] = value
        return g._replace(**columns)
