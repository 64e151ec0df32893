"""Vectorised implied volatility for Black-76 and Black-Scholes-Merton prices.

Method (P. Jäckel, "Let's Be Rational", Wilmott 2015): the price is turned
into the normalised out-of-the-money value ``beta`` at log-moneyness
``a = -|ln(F/K)| <= 0``, so only ``b(a, s) = beta`` has to be solved for the
total volatility ``s = sigma sqrt(T)``.  Jäckel's two tangents at the
inflection point ``s_c = sqrt(2|a|)`` split the price range into four
segments; the initial guess is

* lowest segment: the inverse of his lower map
  ``f(s) = 2 pi |a| / sqrt(27) * Phi(-|a| / (sqrt(3) s))^3`` (exact as
  ``s -> 0``), with ``f(beta)`` a Delbourgo-Gregory rational cubic through 0
  (slope 1) and the segment's end (the map's slope and curvature there);
* two middle segments: a rational cubic of ``s(beta)`` through the
  segment's ends with slopes ``1 / vega`` and no curvature at ``s_c``;
* highest segment: the inverse of the upper map ``Phi(-s/2)``, again with
  a rational cubic of ``f(beta)`` (slope -1/2 at ``beta_max``).

Its relative error is a few 1e-3 at most in the middle segments and below
0.1 in the lowest, so two third-order Householder steps on Jäckel's
transformed objectives (``1/ln b`` in the lowest segment, ``ln(b_max - b)``
in the highest, ``b`` elsewhere) reach the last digits: every option takes
exactly ``FIXED_ITERATIONS`` = 2 steps, without masks, and only rows whose
second step was still above ``STEP_TOLERANCE`` (a few per cent, in the lowest
segment) take more.  The guess and the first step use the cheaper ``rough``
value of ``b`` (relative error below about 1e-7), since the second step
corrects it; the last one uses the accurate normalised price of
:mod:`bot.core.greeks.normalised` (about 1e-12 relative or better, even for
tiny out-of-the-money values).  Large inputs go through in blocks of
``CHUNK`` options so that the temporaries stay in cache: numpy is memory-
bound here, and one core does about 3 million options a second
(``bench/greeks.py``).

Where no volatility reproduces the price the result is NaN and the reason
code says why (:class:`IVReason`).  A price exactly at intrinsic value has
implied volatility 0.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import numpy as np
from scipy.special import ndtr, ndtri

from bot.core.greeks.normalised import SQRT_2PI, otm_black_and_vega

CHUNK = 32768  # options per block: the working arrays stay in a core's L2 cache
FIXED_ITERATIONS = 2  # Householder(3) steps taken by every row: enough from Jäckel's guess
MAX_ITERATIONS = 8  # further steps, only for rows whose last step was still large
STEP_TOLERANCE = 1e-7  # relative step after which one more Householder(3) step is below ulps
TINY = 1e-300
DBL_MIN = float(np.finfo(float).tiny)
DBL_EPSILON = float(np.finfo(float).eps)
TWO_PI = 2.0 * np.pi
TWO_PI_OVER_SQRT27 = 2.0 * np.pi / np.sqrt(27.0)
PI_OVER_SIX = np.pi / 6.0
SQRT3 = float(np.sqrt(3.0))
SQRT_ONE_THIRD = float(np.sqrt(1.0 / 3.0))
SQRT_HALF_PI = float(np.sqrt(0.5 * np.pi))
INV_SQRT_2PI = 1.0 / SQRT_2PI
# Delbourgo-Gregory rational cubic control parameter r: r = 3 is the cubic, r -> inf linear.
R_MIN = -(1.0 - float(np.sqrt(DBL_EPSILON)))
R_MAX = 2.0 / (DBL_EPSILON * DBL_EPSILON)


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


def _middle_control(x_0, x_1, y_0, y_1, d_0, d_1):
    """Control parameter of the middle segments: no curvature at the inflection point (end 0),
    raised where needed to keep the interpolant monotonic and concave (below) or convex (above).

    Jäckel's ``convex_rational_cubic_control_parameter_to_fit_second_derivative`` with
    second derivative 0, written symmetrically in the two ends so that one formula
    serves the segment below the inflection point and the one above it.
    """
    slope = (y_1 - y_0) / (x_1 - x_0)
    span = d_1 - d_0
    gap_0 = slope - d_0
    gap_1 = d_1 - slope
    fit = span / gap_0  # matches s''(b_c) = 0
    monotone = (d_0 + d_1) / slope
    shape = np.abs(span) * np.maximum(1.0 / np.abs(gap_0), 1.0 / np.abs(gap_1))
    r = np.fmax(np.fmax(fit, monotone), np.fmax(shape, R_MIN))  # fmax: a NaN (0/0) drops out
    return np.minimum(r, R_MAX, out=r)


def _rational_cubic(x, x_0, x_1, y_0, y_1, d_0, d_1, r):
    """Delbourgo-Gregory rational cubic through (x_0, y_0), (x_1, y_1) with slopes d_0, d_1.

    ``r`` in ``[R_MIN, R_MAX]``: 3 gives the cubic Hermite interpolant, ``R_MAX``
    (about 4e31) the straight line to round-off.  ``x_1 < x_0`` is allowed.
    """
    width = x_1 - x_0
    u = (x - x_0) / width
    np.clip(u, 0.0, 1.0, out=u)
    v = 1.0 - u
    numerator = y_1 * u
    numerator += (r * y_1 - width * d_1) * v
    numerator *= u * u
    tail = (r * y_0 + width * d_0) * u
    tail += y_0 * v
    tail *= v * v
    numerator += tail
    u *= v
    u *= r - 3.0
    u += 1.0
    numerator /= u
    return numerator


def _minimum_control(d_l, d_r, slope, prefer_shape):
    """Smallest ``r`` that keeps the interpolant monotonic and convex or concave where the data are."""
    monotonic = (d_l * slope >= 0.0) & (d_r * slope >= 0.0)
    convex = (d_l <= slope) & (slope <= d_r)
    concave = (d_l >= slope) & (slope >= d_r)
    curved = convex | concave
    fallback = R_MAX if prefer_shape else -np.inf
    span = d_r - d_l
    right_gap = d_r - slope
    left_gap = slope - d_l
    r1 = np.where(monotonic, np.where(np.abs(slope) >= DBL_MIN, (d_r + d_l) / slope, fallback), -np.inf)
    defined = (np.abs(right_gap) >= DBL_MIN) & (np.abs(left_gap) >= DBL_MIN)
    r2 = np.where(
        curved,
        np.where(defined, np.maximum(np.abs(span / right_gap), np.abs(span / left_gap)), fallback),
        np.where(monotonic, fallback, -np.inf),
    )
    return np.where(monotonic | curved, np.maximum(np.maximum(r1, r2), R_MIN), R_MIN)


def _convex_control(x_l, x_r, y_l, y_r, d_l, d_r, second, at_right, prefer_shape):
    """Control parameter that matches a second derivative at one end (``at_right``: the right),
    raised where needed to preserve shape (Jäckel's ``convex_rational_cubic_control_parameter``)."""
    width = x_r - x_l
    slope = (y_r - y_l) / width
    numerator = 0.5 * width * second + (d_r - d_l)
    denominator = np.where(at_right, d_r - slope, slope - d_l)
    r = np.where(
        np.abs(numerator) < DBL_MIN,
        0.0,
        np.where(np.abs(denominator) < DBL_MIN, np.where(numerator > 0.0, R_MAX, R_MIN), numerator / denominator),
    )
    r = np.maximum(r, _minimum_control(d_l, d_r, slope, prefer_shape))
    return np.clip(np.where(np.isnan(r), R_MAX, r), R_MIN, R_MAX)


def _lowest_guess(beta, a, s_l, b_l):
    """Guess in the lowest segment: a rational cubic of Jäckel's lower map f(beta), inverted.

    ``f(s) = 2 pi |a| / sqrt(27) Phi(-|a| / (sqrt(3) s))^3`` is exact as
    ``s -> 0``; the interpolant passes through 0 with slope 1 and through
    ``(b_l, f(s_l))`` with the map's first and second derivatives there.
    """
    ax = -a
    z = SQRT_ONE_THIRD * ax / s_l
    y = z * z
    s2 = s_l * s_l
    tail = ndtr(-z)
    density = np.exp(-0.5 * y) * INV_SQRT_2PI
    fpp = (
        PI_OVER_SIX
        * y
        / (s2 * s_l)
        * tail
        * (8.0 * SQRT3 * s_l * ax + (3.0 * s2 * (s2 - 8.0) - 8.0 * ax * ax) * tail / density)
        * np.exp(2.0 * y + 0.25 * s2)
    )
    fp = TWO_PI * y * tail * tail * np.exp(y + 0.125 * s2)
    f_l = TWO_PI_OVER_SQRT27 * ax * tail * tail * tail
    r = _convex_control(0.0, b_l, 0.0, f_l, 1.0, fp, np.where(np.isfinite(fpp), fpp, R_MAX), True, True)
    f = _rational_cubic(beta, 0.0, b_l, 0.0, f_l, 1.0, fp, r)
    u = beta / b_l
    # where round-off leaves no positive f: the quadratic through 0 (slope 1) and (b_l, f_l)
    f = np.where(f > 0.0, f, (f_l * u + b_l * (1.0 - u)) * u)
    s = ax / (SQRT3 * -ndtri(np.cbrt(f / (TWO_PI_OVER_SQRT27 * ax))))
    return np.where(np.isfinite(s) & (s > 0.0), s, s_l * u)


def _highest_guess(beta, a, b_max, s_h, b_h):
    """Guess in the highest segment: a rational cubic of the upper map ``Phi(-s/2)``, inverted."""
    f_h = ndtr(-0.5 * s_h)
    w = (a / s_h) ** 2
    fp = -0.5 * np.exp(0.5 * w)
    fpp = SQRT_HALF_PI * np.exp(w + 0.125 * s_h * s_h) * w / s_h
    r = _convex_control(b_h, b_max, f_h, 0.0, fp, -0.5, np.where(np.isfinite(fpp), fpp, R_MAX), False, True)
    f = _rational_cubic(beta, b_h, b_max, f_h, 0.0, fp, -0.5, r)
    width = b_max - b_h
    u = (beta - b_h) / width
    # where round-off leaves no positive f: the quadratic through f_h and 0 (slope -1/2) at b_max
    f = np.where(f > 0.0, f, (f_h * (1.0 - u) + 0.5 * width * u) * (1.0 - u))
    return -2.0 * ndtri(np.clip(f, DBL_MIN, 0.5))


def _initial_guess(beta, a, b_max):
    """Jäckel's initial total vol and the objective segment (0 lowest, 1 middle, 2 highest).

    The tangents at the inflection point ``s_c = sqrt(2|a|)`` meet ``b = 0``
    at ``s_l`` and ``b = b_max`` at ``s_h``; ``beta`` below ``b(s_l)`` is the
    lowest segment, above ``b(s_h)`` the highest, and in between ``s(beta)``
    is a rational cubic through ``s_l, s_c`` or ``s_c, s_h`` with slopes
    ``1 / vega`` and no curvature at ``s_c``.  One evaluation of ``b`` per
    row (at ``s_l`` or ``s_h``, whichever side of ``b(s_c)`` it lies).
    """
    # At the inflection point: h + t = 0, h - t = -s_c, h^2 + t^2 = |a|.
    s_c = np.sqrt(-2.0 * a)
    b_c = 0.5 * b_max - ndtr(-s_c) / b_max
    v_c = b_max * INV_SQRT_2PI  # exp(-|a|/2) / sqrt(2 pi)
    below = beta < b_c
    # the knot: s_l = s_c - b_c / v_c below b_c, s_h = s_c + (b_max - b_c) / v_c above
    knot = (~below) * b_max
    knot -= b_c
    knot /= v_c
    knot += s_c
    np.maximum(knot, TINY, out=knot)
    b_k, v_k = otm_black_and_vega(a, knot, rough=True)
    np.maximum(v_k, TINY, out=v_k)
    # the middle segments, from the inflection point (b_c, s_c) to the knot (b_k, s_k)
    d_c = 1.0 / v_c
    d_k = 1.0 / v_k
    guess = _rational_cubic(beta, b_c, b_k, s_c, knot, d_c, d_k, _middle_control(b_c, b_k, s_c, knot, d_c, d_k))
    segment = np.ones(beta.shape, dtype=np.int8)

    lowest = np.flatnonzero(below & (beta < b_k))
    if lowest.size:
        guess[lowest] = _lowest_guess(beta[lowest], a[lowest], knot[lowest], b_k[lowest])
        segment[lowest] = 0
    highest = np.flatnonzero(~below & (beta > b_k))
    if highest.size:
        bet, bm = beta[highest], b_max[highest]
        guess[highest] = _highest_guess(bet, a[highest], bm, knot[highest], b_k[highest])
        segment[highest] = np.where(bet > 0.5 * bm, 2, 1)
    return np.maximum(guess, TINY), segment


def _householder_step(beta, ln_beta, a, b_max, s, lowest, highest, rough=False):
    """One third-order Householder step on every row of ``s`` (updated in place); returns the steps.

    Objectives (Jäckel): ``b - beta`` in the middle segments,
    ``1/ln b - 1/ln beta`` on the ``lowest`` rows and
    ``ln(b_max - beta) - ln(b_max - b)`` on the ``highest`` (row indices).
    """
    b, vega = otm_black_and_vega(a, s, rough)
    np.maximum(vega, TINY, out=vega)
    inv_s = 1.0 / s
    h2 = a * inv_s
    h2 *= h2
    halley = h2 * inv_s  # b''/b' = h^2/s - s/4
    halley -= 0.25 * s
    hh3 = halley * halley  # b'''/b' = (b''/b')^2 - 3 h^2/s^2 - 1/4
    h2 *= inv_s
    h2 *= inv_s
    h2 *= 3.0
    hh3 -= h2
    hh3 -= 0.25
    newton = beta - b
    newton /= vega

    if lowest.size:
        b_low = np.maximum(b[lowest], TINY)
        ln_b = np.log(b_low)
        ln_beta_low = ln_beta[lowest]
        bpob = vega[lowest] / b_low
        bh = halley[lowest]
        inv_ln_b = 1.0 / ln_b
        twice = 1.0 + 2.0 * inv_ln_b
        newton[lowest] = (ln_beta_low - ln_b) * ln_b / ln_beta_low / bpob
        hh3[lowest] = hh3[lowest] + bpob * (2.0 * bpob * (1.0 + 3.0 * inv_ln_b * (1.0 + inv_ln_b)) - 3.0 * bh * twice)
        halley[lowest] = bh - bpob * twice
    if highest.size:
        bm = b_max[highest]
        gap = np.maximum(bm - b[highest], TINY)
        gp = vega[highest] / gap
        bh = halley[highest]
        newton[highest] = -np.log(np.maximum(bm - beta[highest], TINY) / gap) / gp
        hh3[highest] = hh3[highest] + gp * (2.0 * gp + 3.0 * bh)
        halley[highest] = bh + gp

    # ds = newton (1 + halley newton / 2) / (1 + newton (halley + hh3 newton / 6)), at least -s/2
    hh3 *= newton
    hh3 *= 1.0 / 6.0
    hh3 += halley
    hh3 *= newton
    hh3 += 1.0
    halley *= newton
    halley *= 0.5
    halley += 1.0
    halley *= newton
    halley /= hh3
    ds = np.maximum(halley, -0.5 * s, out=halley)
    s += ds
    return ds


def _refine(beta, a, b_max, s, segment):
    """``FIXED_ITERATIONS`` Householder(3) steps on every row, then more on rows not yet converged."""
    ln_beta = np.log(beta)
    lowest, highest = np.flatnonzero(segment == 0), np.flatnonzero(segment == 2)
    for i in range(FIXED_ITERATIONS):
        # only the last fixed step needs b to the last digits
        ds = _householder_step(beta, ln_beta, a, b_max, s, lowest, highest, rough=i < FIXED_ITERATIONS - 1)
    rows = np.flatnonzero(~(np.abs(ds) <= STEP_TOLERANCE * s))
    for _ in range(MAX_ITERATIONS):
        if rows.size == 0:
            break
        ss, seg = s[rows], segment[rows]
        ds = _householder_step(
            beta[rows], ln_beta[rows], a[rows], b_max[rows], ss, np.flatnonzero(seg == 0), np.flatnonzero(seg == 2)
        )
        s[rows] = ss
        rows = rows[~(np.abs(ds) <= STEP_TOLERANCE * ss)]
    return s


def normalised_implied_vol(beta: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Total volatility ``s = sigma sqrt(T)`` with ``otm_black(a, s) == beta``.

    ``a <= 0`` (log-moneyness of the out-of-the-money side) and
    ``0 < beta < exp(a/2)``, both dimensionless 1-d float arrays; callers
    check the bounds.  A ``beta`` below the smallest normal double
    (2.2e-308) gives 0, as in Jäckel's reference: no vol reproduces it to
    full precision.
    """
    beta = np.asarray(beta, dtype=float)
    a = np.asarray(a, dtype=float)
    subnormal = beta < DBL_MIN
    if subnormal.any():
        s = np.zeros_like(beta)
        rows = np.flatnonzero(~subnormal)
        if rows.size:
            s[rows] = normalised_implied_vol(beta[rows], a[rows])
        return s
    b_max = np.exp(0.5 * a)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        s, segment = _initial_guess(beta, a, b_max)
        return _refine(beta, a, b_max, s, segment)


def _implied_vol_rows(price, f, k, tt, rate, call):
    """Vol and reason for 1-d float arrays (``call`` boolean); the body of :func:`implied_vol_black76`."""
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(price) & np.isfinite(rate)
        valid &= np.isfinite(f) & (f > 0.0)
        valid &= np.isfinite(k) & (k > 0.0)
        valid &= np.isfinite(tt) & (tt > 0.0)
    all_valid = bool(valid.all())
    if not all_valid:
        f, k, tt, rate = (np.where(valid, v, 1.0) for v in (f, k, tt, rate))
        price = np.where(valid, price, 0.0)
    df = rate * tt
    np.negative(df, out=df)
    np.exp(df, out=df)
    # discounted intrinsic value, and the no-arbitrage maximum (forward for a call, strike for a put);
    # selections by multiplying with 0/1 and +-1, which is exact and faster than np.where
    is_call = call.astype(float)
    intrinsic = f - k
    intrinsic *= 2.0 * is_call - 1.0
    np.maximum(intrinsic, 0.0, out=intrinsic)
    intrinsic *= df
    below = price < intrinsic
    maximum = f * is_call
    is_call -= 1.0
    maximum -= k * is_call
    maximum *= df
    above = price >= maximum
    # the normalised out-of-the-money value; at or above its maximum exp(a/2) is the same bound,
    # which the subtraction of a huge intrinsic value can cross on its own (price rounding)
    beta = price - intrinsic
    df *= np.sqrt(f * k)
    beta /= df
    a = np.log(f / k)
    np.abs(a, out=a)
    np.negative(a, out=a)
    above |= beta >= np.exp(0.5 * a)
    reason = below.view(np.int8) * np.int8(IVReason.BELOW_INTRINSIC)
    reason += above.view(np.int8) * np.int8(IVReason.ABOVE_MAXIMUM)
    if not all_valid:
        reason[~valid] = IVReason.INVALID_INPUT

    rows = reason == IVReason.OK
    rows &= beta > 0.0
    if rows.all():
        vol = normalised_implied_vol(beta, a)
        vol /= np.sqrt(tt)
        return vol, reason
    vol = np.where(reason == IVReason.OK, 0.0, np.nan)
    rows = np.flatnonzero(rows)
    if rows.size:
        vol[rows] = normalised_implied_vol(beta[rows], a[rows]) / np.sqrt(tt[rows])
    return vol, reason


def implied_vol_black76(price, forward, strike, t, rate=0.0, is_call=True) -> ImpliedVol:
    """Implied Black-76 volatility of an option on a forward or future.

    ``price`` in the currency of ``forward`` and ``strike`` (premium
    discounted at ``rate``, a continuous fraction per year; 0 for premium
    settled at expiry or margined), ``t`` in years.  Returns the vol as a
    fraction per sqrt(year) and a reason code; prices are reproduced to
    about 1e-12 relative (see docs/greeks.md for the tested range: expiries
    from minutes, far out-of-the-money strikes, vols up to 500 %).

    Large inputs are worked through in blocks of ``CHUNK`` options, so that
    the temporaries stay in cache.
    """
    arrays = np.broadcast_arrays(price, forward, strike, t, rate, is_call)
    shape = arrays[0].shape
    price, f, k, tt, rate = (np.asarray(v, dtype=float).ravel() for v in arrays[:5])
    call = np.asarray(arrays[5]).ravel() != 0
    n = price.size
    if n <= CHUNK:
        vol, reason = _implied_vol_rows(price, f, k, tt, rate, call)
    else:
        vol = np.empty(n)
        reason = np.empty(n, dtype=np.int8)
        for start in range(0, n, CHUNK):
            rows = slice(start, start + CHUNK)
            vol[rows], reason[rows] = _implied_vol_rows(price[rows], f[rows], k[rows], tt[rows], rate[rows], call[rows])
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
