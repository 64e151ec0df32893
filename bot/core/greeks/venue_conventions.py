"""Venue Greek conventions, normalised to the core's, and local-vs-venue comparison.

The core's convention (see :mod:`bot.core.greeks.black`): implied vol as a
fraction; vega per 1.00 of vol, theta per year, rho per 1.00 of rate, all
in USD per option on one unit of underlying; delta and gamma against the
venue's underlying price (the forward for Black-76).

The adapters call these on the raw ticker (``info`` of a ccxt ticker, or a
websocket message's data) so that nothing downstream knows a venue's
convention.  Venue conventions handled:

* Bybit v5 option ticker (USDC-settled, linear): ``markPriceIv`` fraction,
  ``markPrice`` USD, ``vega`` USD per vol point, ``theta`` USD per day;
  strings.  Under one day to expiry its ``gamma`` and ``theta`` are the
  Black-76 values times the remaining fraction of a day (``T / 1 day``);
  found from tickers, not documented (tests/greeks/test_venue_conventions.py).
* Deribit option ticker (coin-settled, inverse): ``mark_iv`` percent,
  ``mark_price`` in coins, ``greeks.vega`` USD per vol point,
  ``greeks.theta`` USD per day but the *minimum of one day's and the
  remaining lifetime's decay* (so not comparable under one day to expiry),
  ``greeks.rho`` USD per 1 % of rate, ``greeks.delta`` the Black delta (not
  premium-adjusted; that is what the account's delta total uses).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, NamedTuple

from bot.core.greeks.units import DAYS_PER_YEAR

if TYPE_CHECKING:
    from bot.core.greeks.black import Greeks

PERCENT = 100.0
COMPARED = ("delta", "gamma", "vega", "theta", "rho", "mark_iv")


class VenueGreeks(NamedTuple):
    """One option's Greeks in the core's units (NaN where the venue gives none
    or its value is not comparable)."""

    delta: float
    gamma: float
    vega: float  # USD per 1.00 of vol
    theta: float  # USD per year
    rho: float  # USD per 1.00 of rate
    mark_iv: float  # fraction
    mark_price_usd: float
    underlying_price: float  # USD; the price delta and gamma refer to


def _f(mapping: Mapping, key: str) -> float:
    value = mapping.get(key)
    return math.nan if value in (None, "") else float(value)


def from_bybit_ticker(data: Mapping, time_to_expiry: float | None = None) -> VenueGreeks:
    """Normalise a Bybit v5 option ticker (``data`` of ``tickers.*`` or REST list item).

    ``time_to_expiry`` (years, year = 365 days): under one day Bybit reports
    gamma and theta scaled by the remaining fraction of a day (Black-76's
    value times ``T / 1 day``, as if ``T`` were floored at one day in
    ``gamma = vega / (F^2 sigma T)`` and ``theta = -vega sigma / (2 T)``);
    with it given, that factor is divided out.  Without it gamma and theta
    pass unchanged, which is right only from one day out.  At or past expiry
    they are NaN (not comparable).
    """
    gamma = _f(data, "gamma")
    theta = _f(data, "theta") * DAYS_PER_YEAR
    if time_to_expiry is not None:
        days = time_to_expiry * DAYS_PER_YEAR
        if not days > 0.0:
            gamma = theta = math.nan
        elif days < 1.0:
            gamma /= days
            theta /= days
    return VenueGreeks(
        delta=_f(data, "delta"),
        gamma=gamma,
        vega=_f(data, "vega") * PERCENT,
        theta=theta,
        rho=math.nan,
        mark_iv=_f(data, "markPriceIv"),
        mark_price_usd=_f(data, "markPrice"),
        underlying_price=_f(data, "underlyingPrice"),
    )


def from_deribit_ticker(data: Mapping, time_to_expiry: float | None = None) -> VenueGreeks:
    """Normalise a Deribit option ticker (``params.data`` of ``ticker.*`` or ``public/ticker`` result).

    ``time_to_expiry`` (years), when given and under one day, marks theta as
    not comparable (NaN): Deribit then reports the decay over the remaining
    life, not a per-day rate.
    """
    greeks = data.get("greeks") or {}
    underlying = _f(data, "underlying_price")
    theta = _f(greeks, "theta") * DAYS_PER_YEAR
    if time_to_expiry is not None and time_to_expiry < 1.0 / DAYS_PER_YEAR:
        theta = math.nan
    return VenueGreeks(
        delta=_f(greeks, "delta"),
        gamma=_f(greeks, "gamma"),
        vega=_f(greeks, "vega") * PERCENT,
        theta=theta,
        rho=_f(greeks, "rho") * PERCENT,
        mark_iv=_f(data, "mark_iv") / PERCENT,
        mark_price_usd=_f(data, "mark_price") * underlying,
        underlying_price=underlying,
    )


class GreekDifference(NamedTuple):
    """A Greek where local and venue values differ beyond the threshold."""

    name: str
    local: float
    venue: float
    abs_diff: float
    rel_diff: float  # |local - venue| / max(|local|, |venue|)


def local_values(greeks: Greeks, vol: float) -> dict[str, float]:
    """A scalar :class:`Greeks` (and the vol used) as a mapping comparable to :class:`VenueGreeks`."""
    return {
        "delta": float(greeks.delta),
        "gamma": float(greeks.gamma),
        "vega": float(greeks.vega),
        "theta": float(greeks.theta),
        "rho": float(greeks.rho),
        "mark_iv": float(vol),
    }


def compare_greeks(
    local: Mapping[str, float],
    venue: VenueGreeks,
    rel_tol: float = 0.05,
    abs_tol: Mapping[str, float] | None = None,
    names=COMPARED,
) -> list[GreekDifference]:
    """Greeks whose local and venue values differ by more than
    ``abs_tol[name] + rel_tol * max(|local|, |venue|)``.

    Values that are NaN on either side are skipped (not comparable).
    ``abs_tol`` defaults to 0 per Greek; give e.g. ``{"delta": 1e-3}`` to
    absorb the venue's rounding.  The caller logs what comes back.
    """
    tolerances = abs_tol or {}
    out = []
    for name in names:
        lv, vv = float(local[name]), float(getattr(venue, name))
        if math.isnan(lv) or math.isnan(vv):
            continue
        diff = abs(lv - vv)
        scale = max(abs(lv), abs(vv))
        if diff > tolerances.get(name, 0.0) + rel_tol * scale:
            out.append(GreekDifference(name, lv, vv, diff, diff / scale if scale else math.inf))
    return out
