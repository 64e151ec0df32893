"""Vectorised implied volatility for Black-76 and Black-Scholes-Merton prices.

Method (after P. Jäckel, "Let's Be Rational", 2015): the price is turned
into the normalised out-of-the-money value ``beta`` at log-moneyness
``a = -|ln(F/K)| <= 0``, so only ``b(a, s) = beta`` has to be solved for the
total volatility ``s = sigma sqrt(T)``.  Jäckel's two tangents at the
inflection point ``s_c = sqrt(2|a|)`` split the price range into four
segments; the initial guess is

* lowest segment: the inverse of his lower map
  ``f(s) = 2 pi |a| / sqrt(27) * Phi(-|a| / (sqrt(3) s))^3`` (exact as
  ``s -> 0``), with ``f(beta)`` a quadratic through 0, slope 1 at 0 and the
  segment's end;
* two middle segments: a cubic Hermite interpolation of ``s(beta)`` with
  slopes ``1 / vega``;
* highest segment: the inverse of the upper map ``Phi(-s/2)``, with a
  quadratic through the segment's start and ``beta_max`` (slope -1/2).

It is then refined by third-order Householder steps on Jäckel's
transformed objectives (``1/ln b`` in the lowest segment,
``ln(b_max - b)`` in the highest, ``b`` elsewhere) until the step is below
a few ulps, at most ``MAX_ITERATIONS`` times.  The normalised price itself
comes from :mod:`bot.core.greeks.normalised`, accurate to about 1e-12
relative even for tiny out-of-the-money values.

Where no volatility reproduces the price the result is NaN and the reason
code says why (:class:`IVReason`).  A price exactly at intrinsic value has
implied volatility 0.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import numpy as np
from scipy.special import ndtr, ndtri

from bot.core.greeks.normalised import SQRT_2PI, otm_black, otm_vega

MAX_ITERATIONS = 8
STEP_TOLERANCE = 1e-7  # relative step after which one more Householder(3) step is below ulps
TINY = 1e-300
TWO_PI_OVER_SQRT27 = 2.0 * np.pi / np.sqrt(27.0)
SQRT3 = float(np.sqrt(3.0))


class IVReason(IntEnum):
    """Why an implied volatility is (or is not) defined."""

    OK = 0
    BELOW_INTRINSIC = 1  # price < discounted intrinsic value: no vol can produce it
    ABOVE_MAXIMUM = 2  # price >= discounted forward (call) or strike (put)
    INVALID_INPUT = 3  # non-positive or non-finite forward/strike/time, or non-finite price


class ImpliedVol(NamedTuple):
    """``vol``: implied volatility as a fraction per sqrt(year) (0.5 = 50 %),
    NaN where undefined; ``reason``: :class:`IVReason` codes (int8)."""

    vol: np.ndarray
    reason: np.ndarray


def _householder_step(newton, halley, hh3):
    return newton * (1.0 + 0.5 * halley * newton) / (1.0 + newton * (halley + hh3 * newton / 6.0))


def _hermite(beta, b0, b1, s0, s1, v0, v1):
    """Cubic Hermite interpolation of s(beta) through (b0, s0), (b1, s1) with ds/dbeta = 1/v."""
    width = b1 - b0
    u = np.clip((beta - b0) / width, 0.0, 1.0)
    u2 = u * u
    u3 = u2 * u
    return (
        (2 * u3 - 3 * u2 + 1) * s0
        + (u3 - 2 * u2 + u) * width / v0
        + (-2 * u3 + 3 * u2) * s1
        + (u3 - u2) * width / v1
    )


def _lower_map(a, s):
    return TWO_PI_OVER_SQRT27 * np.abs(a) * ndtr(-np.abs(a) / (SQRT3 * s)) ** 3


def _inverse_lower_map(a, f):
    return np.abs(a) / (SQRT3 * -ndtri(np.cbrt(f / (TWO_PI_OVER_SQRT27 * np.abs(a)))))


def _initial_guess(beta, a, b_max):
    """Initial total vol and the objective segment (0 lower, 1 middle, 2 upper)."""
    # At the inflection point s_c = sqrt(2|a|): h + t = 0, h - t = -s_c, h^2 + t^2 = |a|.
    s_c = np.sqrt(-2.0 * a)
    b_c = 0.5 * b_max - ndtr(-s_c) / b_max
    v_c = b_max / SQRT_2PI  # exp(-|a|/2) / sqrt(2 pi)
    guess = np.empty_like(beta)
    segment = np.ones(beta.shape, dtype=np.int8)

    low = np.flatnonzero(beta < b_c)
    if low.size:
        al, bet, sc, bc, vc = a[low], beta[low], s_c[low], b_c[low], v_c[low]
        s_l = np.maximum(sc - bc / vc, 0.0)
        b_l = otm_black(al, s_l)
        lowest = bet < b_l
        tau = bet / np.maximum(b_l, TINY)
        f = (_lower_map(al, s_l) * tau + b_l * (1.0 - tau)) * tau
        lower_guess = np.where(lowest, _inverse_lower_map(al, np.clip(f, TINY, None)), 0.0)
        mid_guess = _hermite(bet, b_l, bc, s_l, sc, np.maximum(otm_vega(al, s_l), TINY), vc)
        guess[low] = np.where(lowest, lower_guess, mid_guess)
        segment[low] = np.where(lowest, 0, 1)

    high = np.flatnonzero(beta >= b_c)
    if high.size:
        ah, bet, sc, bc, vc, bm = a[high], beta[high], s_c[high], b_c[high], v_c[high], b_max[high]
        s_h = sc + (bm - bc) / vc
        b_h = otm_black(ah, s_h)
        highest = bet > b_h
        width = bm - b_h
        tau = (bet - b_h) / width
        f = (ndtr(-0.5 * s_h) * (1.0 - tau) + 0.5 * width * tau) * (1.0 - tau)
        upper_guess = -2.0 * ndtri(np.clip(f, TINY, 0.5))
        mid_guess = _hermite(bet, bc, b_h, sc, s_h, vc, np.maximum(otm_vega(ah, s_h), TINY))
        guess[high] = np.where(highest, upper_guess, mid_guess)
        segment[high] = np.where(highest & (bet > 0.5 * bm), 2, 1)
    return np.maximum(guess, TINY), segment


def _refine(beta, a, b_max, s, segment):
    """Householder(3) iterations; works on the rows that have not converged."""
    rows = np.arange(beta.size)
    for _ in range(MAX_ITERATIONS):
        if rows.size == 0:
            break
        bet, aa, bm, ss, seg = beta[rows], a[rows], b_max[rows], s[rows], segment[rows]
        b = otm_black(aa, ss)
        vega = np.maximum(otm_vega(aa, ss), TINY)
        x2 = aa * aa
        b_halley = x2 / (ss * ss * ss) - 0.25 * ss
        b_hh3 = b_halley * b_halley - 3.0 * x2 / (ss * ss * ss * ss) - 0.25

        newton = (bet - b) / vega
        halley = b_halley
        hh3 = b_hh3

        low = seg == 0
        if low.any():
            bl = np.maximum(b[low], TINY)
            ln_b = np.log(bl)
            ln_beta = np.log(bet[low])
            bpob = vega[low] / bl
            bh = b_halley[low]
            newton[low] = (ln_beta - ln_b) * ln_b / ln_beta / bpob
            halley[low] = bh - bpob * (1.0 + 2.0 / ln_b)
            hh3[low] = (
                b_hh3[low]
                + 2.0 * bpob * bpob * (1.0 + 3.0 / ln_b * (1.0 + 1.0 / ln_b))
                - 3.0 * bh * bpob * (1.0 + 2.0 / ln_b)
            )
        high = seg == 2
        if high.any():
            gap = np.maximum(bm[high] - b[high], TINY)
            g = np.log(np.maximum(bm[high] - bet[high], TINY) / gap)
            gp = vega[high] / gap
            newton[high] = -g / gp
            halley[high] = b_halley[high] + gp
            hh3[high] = b_hh3[high] + gp * (2.0 * gp + 3.0 * b_halley[high])

        ds = np.maximum(_householder_step(newton, halley, hh3), -0.5 * ss)
        s[rows] = ss + ds
        rows = rows[~(np.abs(ds) <= STEP_TOLERANCE * ss)]
    return s


def normalised_implied_vol(beta: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Total volatility ``s = sigma sqrt(T)`` with ``otm_black(a, s) == beta``.

    ``a <= 0`` (log-moneyness of the out-of-the-money side) and
    ``0 < beta < exp(a/2)``, both dimensionless 1-d float arrays; callers
    check the bounds.
    """
    b_max = np.exp(0.5 * a)
    s, segment = _initial_guess(beta, a, b_max)
    return _refine(beta, a, b_max, s, segment)


def implied_vol_black76(price, forward, strike, t, rate=0.0, is_call=True) -> ImpliedVol:
    """Implied Black-76 volatility of an option on a forward or future.

    ``price`` in the currency of ``forward`` and ``strike`` (premium
    discounted at ``rate``, a continuous fraction per year; 0 for premium
    settled at expiry or margined), ``t`` in years.  Returns the vol as a
    fraction per sqrt(year) and a reason code; prices are reproduced to
    about 1e-12 relative (see docs/greeks.md for the tested range: expiries
    from minutes, far out-of-the-money strikes, vols up to 500 %).
    """
    arrays = np.broadcast_arrays(price, forward, strike, t, rate, is_call)
    shape = arrays[0].shape
    price, forward, strike, t, rate, call = (np.asarray(v, dtype=float).ravel() for v in arrays)
    call = call != 0.0

    valid = (
        np.isfinite(price)
        & np.isfinite(forward)
        & np.isfinite(strike)
        & np.isfinite(t)
        & np.isfinite(rate)
        & (forward > 0.0)
        & (strike > 0.0)
        & (t > 0.0)
    )
    f = np.where(valid, forward, 1.0)
    k = np.where(valid, strike, 1.0)
    tt = np.where(valid, t, 1.0)
    p = np.where(valid, price, 0.0)
    df = np.exp(-np.where(valid, rate, 0.0) * tt)
    intrinsic = df * np.maximum(np.where(call, f - k, k - f), 0.0)
    below = valid & (p < intrinsic)
    above = valid & (p >= df * np.where(call, f, k))
    reason = np.full(price.shape, IVReason.OK, dtype=np.int8)
    reason[~valid] = IVReason.INVALID_INPUT
    reason[below] = IVReason.BELOW_INTRINSIC
    reason[above] = IVReason.ABOVE_MAXIMUM

    vol = np.full(price.shape, np.nan)
    solvable = reason == IVReason.OK
    vol[solvable] = 0.0
    beta = (p - intrinsic) / (df * np.sqrt(f * k))
    a = -np.abs(np.log(f / k))
    rows = solvable & (beta > 0.0)
    if rows.any():
        vol[rows] = normalised_implied_vol(beta[rows], a[rows]) / np.sqrt(tt[rows])
    if shape == ():
        return ImpliedVol(vol[0], reason[0])
    return ImpliedVol(vol.reshape(shape), reason.reshape(shape))


def implied_vol_bsm(price, spot, strike, t, rate=0.0, carry_yield=0.0, is_call=True) -> ImpliedVol:
    """Implied Black-Scholes-Merton volatility of an option on spot.

    ``carry_yield`` is the continuous dividend or borrow yield ``q``; the
    forward ``spot * exp((rate - q) t)`` is passed to
    :func:`implied_vol_black76`.  Units as there.
    """
    spot, t, rate, carry_yield = (np.asarray(v, dtype=float) for v in (spot, t, rate, carry_yield))
    forward = spot * np.exp((rate - carry_yield) * np.maximum(t, 0.0))
    return implied_vol_black76(price, forward, strike, t, rate, is_call)
