"""Inverse (coin-settled) options and the deltas of futures and perpetuals.

On Deribit an option on 1 coin (BTC, ETH) is priced in USD by Black-76 on
the forward ``F`` (the expiry's future, or a synthetic one) with no
discounting, but its premium and settlement are in the coin: the coin
price is ``V_usd / F``.  Two deltas follow, both in coins per option on
one coin:

* ``delta`` (Black-76 delta, ``dV_usd/dF``): the exposure of the USD value.
  Deribit's ticker ``greeks.delta`` is this one.
* ``coin_delta`` = ``delta - coin_price`` (premium-adjusted, Deribit's "net
  transaction delta"): ``F * d(V_usd/F)/dF``, the exposure of the *coin*
  value.  Deribit's account "delta total" sums these plus the futures'
  deltas.  A deep in-the-money put has ``coin_delta < -1``.

Futures and perpetuals: a linear contract (USD(T)-settled, size in coins)
has delta = its size in coins; an inverse contract (size in USD, settled
in the coin) has delta = ``notional_usd / F`` coins.  With equity ``E`` in
coins, ``F * dE/dF = sum of coin deltas`` (coin balance stable when that is
zero) and ``dE_usd/dF = E + sum of coin deltas`` (USD P&L stable when
equity plus delta total is zero).  See docs/greeks.md.

Cash Greeks are in USD: ``cash_delta = delta * F`` is the USD P&L per 1.00
(100 %) relative move of ``F`` (x0.01 for 1 %); ``cash_gamma = gamma * F^2``
is the change of ``cash_delta`` per 1.00 relative move, less the delta term
(x0.01 for the change per 1 %), the usual "dollar gamma".
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from bot.core.greeks.black import Greeks, black76


class InverseOptionGreeks(NamedTuple):
    """Greeks of one inverse option on 1 coin (multiply by contracts x multiplier).

    ``usd``: Black-76 price and Greeks in USD (vega per 1.00 vol, theta per
    year, rho per 1.00 of rate; see :mod:`bot.core.greeks.black`).
    ``coin_price``: premium in coins.  ``coin_delta``: premium-adjusted delta
    in coins (Deribit's net transaction delta).  ``coin_gamma``: its change
    per USD of ``F``.  ``cash_delta``, ``cash_gamma``: USD, per 1.00 relative
    move (module docstring).
    """

    usd: Greeks
    coin_price: np.ndarray
    coin_delta: np.ndarray
    coin_gamma: np.ndarray
    cash_delta: np.ndarray
    cash_gamma: np.ndarray


def inverse_option(forward, strike, t, vol, is_call=True, rate=0.0) -> InverseOptionGreeks:
    """Greeks of a coin-settled option on one coin of underlying.

    ``forward`` and ``strike`` in USD, ``t`` in years, ``vol`` a fraction
    (Deribit quotes percent: divide at the adapter), ``rate`` discounts the
    USD premium (Deribit uses 0).
    """
    usd = black76(forward, strike, t, vol, rate, is_call)
    f = np.asarray(forward, dtype=float)
    coin_price = usd.price / f
    coin_delta = usd.delta - coin_price
    return InverseOptionGreeks(
        usd=usd,
        coin_price=coin_price,
        coin_delta=coin_delta,
        coin_gamma=usd.gamma - coin_delta / f,
        cash_delta=usd.delta * f,
        cash_gamma=usd.gamma * f * f,
    )


def linear_future_delta(contracts: ArrayLike, multiplier: ArrayLike = 1.0) -> np.ndarray:
    """Delta in coins of a linear future or perpetual: contracts x coins per contract."""
    return np.asarray(contracts, dtype=float) * np.asarray(multiplier, dtype=float)


def inverse_future_delta(contracts: ArrayLike, contract_usd: ArrayLike, price: ArrayLike) -> np.ndarray:
    """Delta in coins of an inverse future or perpetual.

    ``contracts`` x ``contract_usd`` (USD face value per contract; Deribit
    BTC: 10, position sizes are quoted in USD so pass 1) / ``price`` (USD).
    The same number serves both the coin-balance and the USD-P&L view.
    """
    notional = np.asarray(contracts, dtype=float) * np.asarray(contract_usd, dtype=float)
    return notional / np.asarray(price, dtype=float)
