"""European option prices and Greeks under the generalised cost-of-carry model.

One core, :func:`carry_greeks`, prices a European option on an underlying
``u`` whose forward is ``F = u * exp(b T)`` (``b`` = cost of carry) and
discounts at rate ``r``:

* Black-Scholes-Merton on spot (:func:`bsm`): ``b = r - q`` with ``q`` the
  continuous dividend or borrow yield; ``u`` is the spot price.
* Black-76 on a forward or future (:func:`black76`): ``b = 0``; ``u`` is the
  forward or futures price (Deribit-style options on futures).

Units (all per unit of underlying, in the currency of ``u`` and ``K``):

===========  ==============================================================
price        currency
delta        dV/du (dimensionless; for Black-76 per unit of *forward*)
gamma        d2V/du2, per currency unit of ``u``
vega         dV/dsigma per 1.00 of volatility (sigma = 1.0 means 100 %);
             ``vega_per_point`` is per 1 vol point (0.01)
theta        -dV/dT, value change per *year* of calendar time passing;
             ``theta_per_day`` is per calendar day (theta / 365)
rho          dV/dr per 1.00 of rate (r = 1.0 means 100 %); for BSM the
             carry moves with the rate (q held), for Black-76 the forward is
             held, so rho = -T * price
vanna        d(delta)/dsigma per 1.00 of vol; ``vanna_per_point`` per point
volga        d(vega)/dsigma per 1.00 of vol squared (vomma);
             ``volga_per_point`` = change of vega-per-point per vol point
charm        d(delta)/dt, delta change per year of time passing (= -dDelta/dT);
             ``charm_per_day`` per calendar day
===========  ==============================================================

Inputs broadcast together: ``u`` and ``K`` > 0, ``T`` in years (``T <= 0``
means expired and gives the payoff's limits), ``sigma`` >= 0 as a fraction
(0.5 = 50 %), rates as continuously compounded fractions per year,
``is_call`` boolean.  Invalid rows (non-positive price or strike, negative
or non-finite vol) give NaN in every field, and only they do.

Limits: ``sigma * sqrt(T)`` is floored at 1e-140 and ``sqrt(T)`` at 1e-70,
so an expired or zero-vol option is valued at that floor: price = the
discounted intrinsic value, delta = the discounted step (one half exactly
at the forward), vega, vanna, volga, gamma and charm vanish away from the
strike.  Exactly at the forward (``F == K``) with no time value, gamma,
theta and charm have no finite limit; they come out as huge finite numbers
of the right sign (their value at the floor), never inf or NaN, so book
sums stay defined.  Results that underflow are 0 or subnormal, which numpy
does not report by default (``np.errstate(under=...)``); nothing divides by
zero, overflows or produces an invalid value.

The price is ``sign * DF * (F Phi(sign d1) - K Phi(sign d2))`` where that
is accurate; where its time value is small (below 1e-3 of
``sqrt(F K) DF``, so that cancellation would cost relative precision) it is
the discounted intrinsic value plus the out-of-the-money value from
:func:`bot.core.greeks.normalised.otm_black`.  The time value so has a
relative error of about 1e-12 or better everywhere, which implied
volatility needs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

from bot.core.greeks.normalised import SQRT_2PI, otm_black
from bot.core.greeks.units import DAYS_PER_YEAR, VOL_POINT

S_FLOOR = 1e-140  # floor of sigma*sqrt(T)
SQRT_T_FLOOR = 1e-70  # floor of sqrt(T) where T divides
D_CLIP = 40.0  # |d| beyond this: ndtr is exactly 0 or 1 and the density underflows to 0
SMALL_PRICE = 1e-3  # below this fraction of sqrt(F K) DF the price is recomputed accurately


class Greeks(NamedTuple):
    """Price and Greeks, each an array (or numpy scalar) of the broadcast shape.

    Units as in the module docstring: vega/vanna/volga per 1.00 of vol,
    theta/charm per year, rho per 1.00 of rate; the ``*_per_point`` and
    ``*_per_day`` properties give per vol point (0.01) and per calendar day.
    """

    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray
    rho: np.ndarray
    vanna: np.ndarray
    volga: np.ndarray
    charm: np.ndarray

    @property
    def vega_per_point(self) -> np.ndarray:
        """Vega per vol point (sigma + 0.01)."""
        return self.vega * VOL_POINT

    @property
    def theta_per_day(self) -> np.ndarray:
        """Theta per calendar day (theta / 365)."""
        return self.theta / DAYS_PER_YEAR

    @property
    def charm_per_day(self) -> np.ndarray:
        """Charm per calendar day (charm / 365)."""
        return self.charm / DAYS_PER_YEAR

    @property
    def vanna_per_point(self) -> np.ndarray:
        """Delta change per vol point."""
        return self.vanna * VOL_POINT

    @property
    def volga_per_point(self) -> np.ndarray:
        """Change of vega-per-point per vol point (volga * 1e-4)."""
        return self.volga * VOL_POINT * VOL_POINT

    def scaled(self, factor: ArrayLike) -> "Greeks":
        """Every field multiplied by ``factor`` (e.g. position size x multiplier)."""
        f = np.asarray(factor, dtype=float)
        return Greeks(*(field * f for field in self))


def _as_float_arrays(*values: ArrayLike) -> list[np.ndarray]:
    return [np.atleast_1d(np.asarray(v, dtype=float)) for v in np.broadcast_arrays(*values)]


class _Setup(NamedTuple):
    """Shared intermediate quantities of the cost-of-carry model."""

    u: np.ndarray
    k: np.ndarray
    t: np.ndarray
    vol: np.ndarray
    r: np.ndarray
    b: np.ndarray
    sign: np.ndarray  # +1 call, -1 put
    forward: np.ndarray
    df: np.ndarray  # exp(-r T)
    x: np.ndarray  # ln(F/K)
    s: np.ndarray  # sigma sqrt(T), unfloored
    s1: np.ndarray  # sigma sqrt(T), floored at S_FLOOR
    d1: np.ndarray  # clipped to +-D_CLIP
    d2: np.ndarray
    cdf1: np.ndarray  # Phi(sign d1)
    cdf2: np.ndarray  # Phi(sign d2)
    bad: np.ndarray  # invalid input rows


def _setup(u, k, t, vol, r, b, is_call) -> _Setup:
    u, k, t, vol, r, b, call = _as_float_arrays(u, k, t, vol, r, b, np.asarray(is_call, dtype=bool))
    sign = 2.0 * call - 1.0
    t = np.maximum(t, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.log(u / k) + b * t
    bad = ~(np.isfinite(x) & np.isfinite(vol) & (vol >= 0.0) & np.isfinite(r))
    if bad.any():
        x, vol, r = (np.where(bad, 0.0, v) for v in (x, vol, r))
        u, k = (np.where(bad, 1.0, v) for v in (u, k))
    s = vol * np.sqrt(t)
    s1 = np.maximum(s, S_FLOOR)
    d1 = x / s1 + 0.5 * s1
    d2 = np.clip(d1 - s1, -D_CLIP, D_CLIP)
    d1 = np.clip(d1, -D_CLIP, D_CLIP)
    forward = u * np.exp(b * t)
    df = np.exp(-r * t)
    return _Setup(u, k, t, vol, r, b, sign, forward, df, x, s, s1, d1, d2, ndtr(sign * d1), ndtr(sign * d2), bad)


def _finish(values: np.ndarray, st: _Setup, scalar: bool) -> np.ndarray:
    if st.bad.any():
        values = np.where(st.bad, np.nan, values)
    return values[0] if scalar else values


def _price(st: _Setup) -> np.ndarray:
    price = st.sign * st.df * (st.forward * st.cdf1 - st.k * st.cdf2)
    intrinsic = st.df * np.maximum(st.sign * (st.forward - st.k), 0.0)
    scale = np.sqrt(st.forward * st.k) * st.df
    small = price - intrinsic < SMALL_PRICE * scale  # time value prone to cancellation
    if small.any():
        otm = otm_black(-np.abs(st.x[small]), st.s[small])
        price[small] = intrinsic[small] + scale[small] * otm
    return price


def _is_scalar(*values) -> bool:
    return all(np.ndim(v) == 0 for v in values)


def carry_price(u, k, t, vol, r, b, is_call) -> np.ndarray:
    """Price only (currency of ``u``) under cost of carry ``b`` and discount rate ``r``.

    Same inputs, limits and accuracy as :func:`carry_greeks`.
    """
    st = _setup(u, k, t, vol, r, b, is_call)
    return _finish(_price(st), st, _is_scalar(u, k, t, vol, r, b, is_call))


def carry_greeks(u, k, t, vol, r, b, is_call, carry_follows_rate: bool) -> Greeks:
    """Price and all Greeks under cost of carry ``b`` (units: module docstring).

    ``carry_follows_rate`` says what rho holds fixed: True (BSM) moves the
    carry with the rate (``b = r - q``, ``q`` held); False (Black-76) holds
    the forward, so ``rho = -T * price``.
    """
    scalar = _is_scalar(u, k, t, vol, r, b, is_call)
    st = _setup(u, k, t, vol, r, b, is_call)
    sign, s1, d1, d2, t = st.sign, st.s1, st.d1, st.d2, st.t
    sqrt_t = np.sqrt(t)
    sqrt_t1 = np.maximum(sqrt_t, SQRT_T_FLOOR)
    pdf = np.exp(-0.5 * d1 * d1) / SQRT_2PI
    carry_df = np.exp((st.b - st.r) * t)  # F * DF / u
    fwd_df = st.forward * st.df
    fwd_df_pdf = fwd_df * pdf

    price = _price(st)
    delta = sign * carry_df * st.cdf1
    gamma = carry_df * pdf / (st.u * s1)
    vega = fwd_df_pdf * sqrt_t
    theta = (
        -0.5 * fwd_df_pdf * st.vol / sqrt_t1
        - sign * (st.b - st.r) * fwd_df * st.cdf1
        - sign * st.r * st.k * st.df * st.cdf2
    )
    rho = -t * price
    if carry_follows_rate:
        rho = rho + sign * t * fwd_df * st.cdf1
    vanna = -carry_df * pdf * sqrt_t * d2 / s1
    volga = fwd_df_pdf * t * d1 * d2 / s1
    charm = -sign * (st.b - st.r) * carry_df * st.cdf1 - carry_df * pdf * (
        st.b / s1 - 0.5 * d2 / (sqrt_t1 * sqrt_t1)
    )
    return Greeks(
        *(_finish(v, st, scalar) for v in (price, delta, gamma, vega, theta, rho, vanna, volga, charm))
    )


def bsm(spot, strike, t, vol, rate=0.0, carry_yield=0.0, is_call=True) -> Greeks:
    """Black-Scholes-Merton price and Greeks of a European option on spot.

    ``spot``, ``strike`` in one currency; ``t`` in years; ``vol`` a fraction
    per sqrt(year); ``rate`` and ``carry_yield`` (continuous dividend or
    borrow yield ``q``) as fractions per year.  Delta and gamma are with
    respect to spot; rho is dV/dr per 1.00 of rate with ``q`` held; units of
    every field are in the module docstring (vega per 1.00 of vol and
    ``vega_per_point``; theta per year and ``theta_per_day``).
    """
    rate = np.asarray(rate, dtype=float)
    return carry_greeks(spot, strike, t, vol, rate, rate - np.asarray(carry_yield, dtype=float), is_call, True)


def black76(forward, strike, t, vol, rate=0.0, is_call=True) -> Greeks:
    """Black-76 price and Greeks of a European option on a forward or future.

    ``forward`` is the forward/futures price for the option's expiry; delta
    and gamma are with respect to it; rho = -T * price (forward held).
    ``rate`` discounts the premium (0 for premium paid at expiry or in
    margined style).  Units as in the module docstring.
    """
    return carry_greeks(forward, strike, t, vol, rate, 0.0, is_call, False)


def bsm_price(spot, strike, t, vol, rate=0.0, carry_yield=0.0, is_call=True) -> np.ndarray:
    """Black-Scholes-Merton price only (currency of ``spot``); inputs as :func:`bsm`."""
    rate = np.asarray(rate, dtype=float)
    return carry_price(spot, strike, t, vol, rate, rate - np.asarray(carry_yield, dtype=float), is_call)


def black76_price(forward, strike, t, vol, rate=0.0, is_call=True) -> np.ndarray:
    """Black-76 price only (currency of ``forward``); inputs as :func:`black76`."""
    return carry_price(forward, strike, t, vol, rate, 0.0, is_call)
