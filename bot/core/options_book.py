"""An options book held alongside the traded instruments, valued with the Greeks engine.

Pure (no I/O, no clock): the caller passes the forward and the time. Rows are revalued through
:class:`~bot.core.greeks.BookGreeks` only when their inputs change; time to expiry moves in
steps of ``time_step_s`` so that an unchanged forward costs no recomputation.

Greeks come from one of two sources (``source``): ``local`` (default) values every option with
the Black-76 model at the latest mark IV (the venue's when it has sent one, else the configured
IV); ``venue`` takes the venue's own Greeks where it has sent them (normalised to core units by
the adapter) and falls back to local values otherwise. Where the venue also reports the delta of
our position in an option (:meth:`OptionsBook.set_venue_position`; Deribit's is premium-adjusted,
in coins), the ``venue`` source uses it for that option while it is at most ``venue_max_age_s``
old, in place of the delta computed from the Greeks. :meth:`OptionsBook.set_venue` and
:meth:`OptionsBook.set_venue_position` return where the two sources disagree beyond a tolerance,
for the caller to log.

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
from typing import NamedTuple

import numpy as np

from bot.core.greeks import BookGreeks, GreekDifference, Greeks, VenueGreeks, black76, compare_greeks, local_values

SECONDS_PER_YEAR = 365.0 * 24 * 3600
VENUE_MAX_AGE_S = 10.0
"""How long a venue-reported position delta stands in for the computed one (s): five of the
ccxt adapter's default position polls (2 s)."""


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


class _ReportedDelta(NamedTuple):
    """A venue's position delta per coin held (coins per coin, the venue's convention) and when
    it was reported (s)."""

    per_coin: float
    ts: float


class OptionsBook:
    def __init__(self, positions: list[OptionPosition], time_step_s: float = 60.0, source: str = "local",
                 tolerance: float = 0.05, delta_unit: str = "coin", venue_max_age_s: float = VENUE_MAX_AGE_S):
        self._positions = positions
        self._time_step_s = time_step_s
        self._source = source
        self._tolerance = tolerance
        self._delta_unit = delta_unit
        self._venue_max_age_s = venue_max_age_s
        self._cache = BookGreeks()
        self._venue: dict[str, VenueGreeks] = {}
        self._venue_delta: dict[str, _ReportedDelta] = {}

    def _row(self, venue_symbol: str) -> OptionPosition | None:
        return next((p for p in self._positions if p.venue_symbol == venue_symbol), None)

    def _local_at_venue_marks(self, row: OptionPosition, now: float) -> tuple[Greeks, VenueGreeks] | None:
        """Black-76 Greeks of ``row`` at the venue's last underlying price and mark IV, with those
        venue Greeks; ``None`` before the venue has sent usable ones."""
        greeks = self._venue.get(row.venue_symbol or "")
        if greeks is None or not (greeks.underlying_price > 0 and greeks.mark_iv > 0):
            return None
        t = (row.expiry_ts - now) / SECONDS_PER_YEAR
        return black76(greeks.underlying_price, row.strike, t, greeks.mark_iv, is_call=row.is_call), greeks

    def set_venue(self, venue_symbol: str, greeks: VenueGreeks, now: float) -> list[GreekDifference]:
        """Store the venue's Greeks (core units) for an option; returns where local values, at the
        venue's underlying price and mark IV, differ by more than the tolerance (relative)."""
        row = self._row(venue_symbol)
        if row is None:
            return []
        self._venue[venue_symbol] = greeks
        local = self._local_at_venue_marks(row, now)
        if local is None:
            return []
        return compare_greeks(local_values(local[0], greeks.mark_iv), greeks, rel_tol=self._tolerance)

    def set_venue_position(self, venue_symbol: str, delta_coin: float, size_coin: float,
                           now: float) -> list[GreekDifference]:
        """Store the venue's delta of our position in an option: ``delta_coin`` coins for
        ``size_coin`` coins held (signed), in the venue's convention (premium-adjusted where the
        option is coin-settled, as Deribit reports it), reported at ``now`` (s). It is kept per coin
        held and applied to the book's own quantity; a flat or unusable report is dropped (the
        computed delta applies). Returns ``position_delta`` where it differs by more than the
        tolerance (relative) from the local delta per coin in the same convention, at the venue's
        underlying price and mark IV (nothing to compare before the venue has sent those)."""
        row = self._row(venue_symbol)
        if row is None:
            return []
        if size_coin == 0 or not (math.isfinite(delta_coin) and math.isfinite(size_coin)):
            self._venue_delta.pop(venue_symbol, None)
            return []
        per_coin = delta_coin / size_coin
        self._venue_delta[venue_symbol] = _ReportedDelta(per_coin, now)
        local = self._local_at_venue_marks(row, now)
        if local is None:
            return []
        g, greeks = local
        premium = float(g.price) / greeks.underlying_price if row.coin_settled else 0.0
        return [d._replace(name="position_delta")
                for d in compare_greeks({"delta": float(g.delta) - premium}, greeks._replace(delta=per_coin),
                                        rel_tol=self._tolerance, names=("delta",))]

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
        coin_settled = np.array([p.coin_settled for p in rows])
        premium = np.where(coin_settled, g.price / forward, 0.0)   # coins per coin of underlying
        coin_delta = g.delta - premium       # premium-adjusted where coin-settled (the venues' convention)
        per_coin = self._with_venue_position_deltas(rows, coin_delta, now) if self._source == "venue" else coin_delta
        coin = coin_settled & (self._delta_unit == "coin")
        delta = np.where(coin, per_coin, per_coin + premium)   # usd_pnl: the premium back, i.e. the Black delta
        gamma = np.where(coin, g.gamma - coin_delta / forward, g.gamma)
        return OptionsGreeks(
            delta_coin=float(np.sum(qty * delta)),
            gamma_coin=float(np.sum(qty * gamma)),
            vega_usd_per_vol_point=float(np.sum(qty * g.vega_per_point)),
            theta_usd_per_day=float(np.sum(qty * g.theta_per_day)),
        )

    def _with_venue_position_deltas(self, rows: list[OptionPosition], delta: np.ndarray, now: float) -> np.ndarray:
        """Per-coin deltas (premium-adjusted where coin-settled) with the venue's position delta per
        coin substituted where it reported one at most ``venue_max_age_s`` before ``now``."""
        out = np.array(delta, dtype=float)
        for i, p in enumerate(rows):
            reported = self._venue_delta.get(p.venue_symbol or "")
            if reported is not None and now - reported.ts <= self._venue_max_age_s:
                out[i] = reported.per_coin
        return out

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
