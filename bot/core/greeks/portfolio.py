"""Book-level views: totals by key, dollar Greeks, portfolio delta, scenario grid.

Rows are positions; every per-row input is an array of one length.
Position Greeks are the model's per-unit Greeks times ``quantity`` (signed
contracts x multiplier, in units of the underlying), see
:meth:`bot.core.greeks.black.Greeks.scaled`.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from bot.core.greeks.black import DAYS_PER_YEAR, VOL_POINT, Greeks, carry_price

# Upper edges (years) of the default expiry buckets: 1 day, 1 week, 30 days, 90 days, 1 year, beyond.
DEFAULT_BUCKET_EDGES = (1.0 / DAYS_PER_YEAR, 7.0 / DAYS_PER_YEAR, 30.0 / DAYS_PER_YEAR, 90.0 / DAYS_PER_YEAR, 1.0)
DEFAULT_BUCKET_LABELS = ("<=1d", "<=1w", "<=30d", "<=90d", "<=1y", ">1y")


def expiry_buckets(
    t: ArrayLike, edges=DEFAULT_BUCKET_EDGES, labels=DEFAULT_BUCKET_LABELS
) -> np.ndarray:
    """Label of each row's expiry bucket; ``t`` in years, ``edges`` upper bounds (inclusive)."""
    if len(labels) != len(edges) + 1:
        raise ValueError("need one more label than edges")
    index = np.searchsorted(np.asarray(edges, dtype=float), np.asarray(t, dtype=float), side="left")
    return np.asarray(labels, dtype=object)[index]


def totals_by(keys: ArrayLike, greeks: Greeks) -> dict[object, Greeks]:
    """Sum of position Greeks per distinct key (underlying, expiry bucket, ...).

    ``greeks`` holds position (already scaled) values per row; the price
    field becomes the summed position value.  Keys are returned sorted.
    """
    uniq, inverse = np.unique(np.asarray(keys, dtype=object), return_inverse=True)
    sums = [np.bincount(inverse, weights=np.asarray(f, dtype=float).ravel(), minlength=uniq.size) for f in greeks]
    return {key: Greeks(*(s[i] for s in sums)) for i, key in enumerate(uniq)}


def total(greeks: Greeks) -> Greeks:
    """Sum over all rows (the overall book)."""
    return Greeks(*(np.sum(np.asarray(f, dtype=float)) for f in greeks))


class DollarGreeks(NamedTuple):
    """Cash Greeks of positions, in the quote currency (USD).

    ``delta``: P&L per 1 % rise of the underlying (delta x S x 0.01);
    ``gamma``: change of that dollar delta per 1 % rise (gamma x S^2 x 1e-4);
    ``vega``: P&L per vol point; ``theta``: P&L per calendar day;
    ``rho``: P&L per 1 % (0.01) of rate.
    """

    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray
    rho: np.ndarray


def dollar_greeks(greeks: Greeks, underlying: ArrayLike) -> DollarGreeks:
    """Dollar Greeks from position Greeks and the underlying price each was taken against."""
    s = np.asarray(underlying, dtype=float)
    return DollarGreeks(
        delta=greeks.delta * s * 0.01,
        gamma=greeks.gamma * s * s * 1e-4,
        vega=greeks.vega_per_point,
        theta=greeks.theta_per_day,
        rho=greeks.rho * 0.01,
    )


class DeltaUnit(Enum):
    """What a book's delta total keeps stable (docs/greeks.md explains the choice).

    ``COIN``: Deribit's delta total (premium-adjusted option deltas plus
    futures), coins; zero keeps the coin balance stable.
    ``USD_PNL``: coin equity plus delta total, coins; zero keeps USD P&L
    stable.  ``CASH_USD``: ``USD_PNL`` times the price, USD per 1.00 move.
    """

    COIN = "coin"
    USD_PNL = "usd_pnl"
    CASH_USD = "cash_usd"


def portfolio_delta(
    unit: DeltaUnit,
    price: float,
    option_coin_deltas: ArrayLike = (),
    future_deltas: ArrayLike = (),
    coin_equity: float = 0.0,
) -> float:
    """One delta for an options book and its hedge, in the unit the config chooses.

    ``option_coin_deltas``: position premium-adjusted deltas in coins
    (:attr:`InverseOptionGreeks.coin_delta` x quantity; for linear options
    pass the plain delta and ``coin_equity=0``); ``future_deltas``: coins
    (:func:`linear_future_delta`, :func:`inverse_future_delta`);
    ``coin_equity``: account equity in coins (mark value of options
    included); ``price``: underlying price in USD.
    """
    delta_total = float(np.sum(option_coin_deltas)) + float(np.sum(future_deltas))
    if unit is DeltaUnit.COIN:
        return delta_total
    usd_pnl = coin_equity + delta_total
    return usd_pnl if unit is DeltaUnit.USD_PNL else usd_pnl * price


class Scenario(NamedTuple):
    """P&L of a book by full revaluation: ``pnl[i, j]`` for ``spot_shifts[i]``
    (relative, 0.05 = +5 %) and ``vol_shifts[j]`` (vol points, 5 = +0.05)."""

    spot_shifts: np.ndarray
    vol_shifts: np.ndarray
    pnl: np.ndarray


def scenario_grid(
    underlying,
    strike,
    t,
    vol,
    rate,
    carry,
    is_call,
    quantity,
    spot_shifts=(-0.1, -0.05, 0.0, 0.05, 0.1),
    vol_shifts=(-10.0, -5.0, 0.0, 5.0, 10.0),
    linear_quantity: ArrayLike = 0.0,
) -> Scenario:
    """Full-revaluation P&L grid of an options book plus a linear hedge.

    Per-row option inputs as :func:`bot.core.greeks.black.carry_price`
    (``carry`` = 0 for Black-76 on a forward, ``rate - q`` for spot);
    ``quantity`` signed units of underlying per row; the underlying of
    every row moves by the same relative shift.  ``linear_quantity``: the
    hedge in units of underlying per row (or a scalar), valued linearly.
    Vols are floored at 0 after the shift.  P&L in the quote currency.
    """
    u = np.asarray(underlying, dtype=float)
    v = np.asarray(vol, dtype=float)
    q = np.asarray(quantity, dtype=float)
    ds = np.asarray(spot_shifts, dtype=float)
    dv = np.asarray(vol_shifts, dtype=float) * VOL_POINT
    base = carry_price(u, strike, t, v, rate, carry, is_call)
    shifted_u = u * (1.0 + ds[:, None, None])
    shifted_v = np.maximum(v + dv[None, :, None], 0.0)
    value = carry_price(shifted_u, strike, t, shifted_v, rate, carry, is_call)
    option_pnl = np.sum((value - base) * q, axis=-1)
    hedge_pnl = np.sum(np.broadcast_to(linear_quantity, u.shape) * u) * ds[:, None]
    return Scenario(np.asarray(spot_shifts, dtype=float), np.asarray(vol_shifts, dtype=float), option_pnl + hedge_pnl)
