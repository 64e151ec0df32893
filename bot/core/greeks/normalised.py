"""The normalised Black function, accurate to a few ulps in relative terms.

Everything here is dimensionless.  With forward ``F``, strike ``K``, total
volatility ``s = sigma * sqrt(T)`` and log-moneyness ``x = ln(F / K)``, the
undiscounted Black call price is ``sqrt(F K) * b(x, s)`` where

    b(x, s) = exp(x/2) * Phi(x/s + s/2) - exp(-x/2) * Phi(x/s - s/2).

Only the out-of-the-money half (``x <= 0``) is evaluated here; the
in-the-money half follows by put-call parity, which callers apply by adding
the intrinsic value.  Writing ``h = x/s`` and ``t = s/2`` and
``Y(z) = Phi(z) / phi(z)``,

    b = exp(-(h^2 + t^2) / 2) / sqrt(2 pi) * (Y(h + t) - Y(h - t)),

which is evaluated in three regions so that tiny out-of-the-money values
keep their relative precision (this is needed for implied volatility):

* near the maximum (``h + t > 0.85``) the plain formula with ``ndtr``;
* small ``t`` (``t < 0.21``, ``h >= -40``): an odd Taylor series of
  ``Y(h + t) - Y(h - t)`` in ``t``, using ``Y' = 1 + z Y`` and
  ``Y^(n+1) = n Y^(n-1) + z Y^(n)``;
* elsewhere: ``Y`` through the scaled complementary error function,
  ``Y(z) = sqrt(pi/2) * erfcx(-z / sqrt(2))``.

The region split follows P. Jäckel, "Let's Be Rational" (2015); the Taylor
region is stretched down to ``h = -40`` (below that ``b`` underflows), which
replaces his asymptotic expansion and keeps the relative error under about
1e-12 against a 60-digit reference (tests/greeks/test_normalised.py).

:func:`otm_black_and_vega` is the implied-vol solver's entry point: ``b``
and its vega from one pass, and with ``rough=True`` the plain formula
wherever it cancels by less than ``ROUGH_CANCELLATION`` (two ``ndtr`` cost a
third of two ``erfcx``), relative error below about 1e-7, for the solver's
steps that are not its last.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erfcx, ndtr

SQRT_2PI = float(np.sqrt(2.0 * np.pi))
INV_SQRT_2PI = float(1.0 / np.sqrt(2.0 * np.pi))
SQRT_HALF_PI = float(np.sqrt(0.5 * np.pi))
INV_SQRT2 = float(1.0 / np.sqrt(2.0))

NEAR_MAXIMUM_H_PLUS_T = 0.85
SMALL_T = 0.21
SMALL_T_MIN_H = -40.0
TAYLOR_ODD_TERMS = 7
EXPONENT_CUTOFF = 700.0
ROUGH_CANCELLATION = 1e5  # rough mode: plain formula where b > exp(a/2) Phi(h+t) / this


def _y_difference_small_t(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``Y(h + t) - Y(h - t)`` by its odd Taylor series in ``t`` (``t < 0.21``)."""
    y_prev = erfcx(-INV_SQRT2 * h)
    y_prev *= SQRT_HALF_PI  # Y
    y_curr = h * y_prev
    y_curr += 1.0  # Y'
    t2 = t * t
    term = t.copy()  # t^(2k+1) / (2k+1)!
    total = y_curr * term
    scratch = np.empty_like(h)
    n = 1  # order of y_curr
    for k in range(1, TAYLOR_ODD_TERMS):
        # two recurrence steps, Y^(n+1) = n Y^(n-1) + h Y^(n), then Y^(n+2), in place
        for _ in range(2):
            np.multiply(h, y_curr, out=scratch)
            y_prev *= n
            y_prev += scratch
            y_prev, y_curr = y_curr, y_prev
            n += 1
        term *= t2
        term *= 1.0 / ((2 * k) * (2 * k + 1))
        np.multiply(y_curr, term, out=scratch)
        total += scratch
    total *= 2.0
    return total


def _y_difference_erfcx(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``Y(h + t) - Y(h - t)`` through ``erfcx`` (valid for ``h + t <= 0.85``)."""
    diff = erfcx(-INV_SQRT2 * (h + t))
    diff -= erfcx(-INV_SQRT2 * (h - t))
    diff *= SQRT_HALF_PI
    return diff


def otm_black_and_vega(a: np.ndarray, s: np.ndarray, rough: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``b(a, s)`` and ``d b / d s`` for ``a <= 0`` and ``s > 0`` (1-d float64 arrays of one shape).

    The fast path used by implied volatility: both come out of one pass, as
    ``b = vega * (Y(h + t) - Y(h - t))`` away from the maximum.  Values that
    underflow come out as 0 or subnormal (``np.errstate(under=...)``).

    ``rough=True`` trades the last digits for speed, for an implied-vol
    iteration that is not the last one: the plain formula with ``ndtr``
    wherever it cancels by less than ``ROUGH_CANCELLATION`` (relative error
    below about 1e-7, mostly below 1e-9), the accurate regions elsewhere.
    """
    h = a / s
    t = 0.5 * s
    exponent = h * h
    exponent += t * t
    exponent *= -0.5
    vega = np.exp(exponent, out=exponent)
    vega *= INV_SQRT_2PI
    h_plus_t = h + t
    if rough:
        half = np.exp(0.5 * a)
        big = ndtr(h_plus_t)
        big *= half
        b = ndtr(h - t)
        b /= half
        np.subtract(big, b, out=b)
        big *= 1.0 / ROUGH_CANCELLATION
        rows = np.flatnonzero(~(b > big))
        if rows.size:
            b[rows] = otm_black_and_vega(a[rows], s[rows])[0]
        return b, vega
    near_max = h_plus_t > NEAR_MAXIMUM_H_PLUS_T
    small_t = (t < SMALL_T) & (h >= SMALL_T_MIN_H)
    small_t &= ~near_max
    other = ~(near_max | small_t)
    b = np.empty_like(s)
    rows = np.flatnonzero(near_max)
    if rows.size:
        half = np.exp(0.5 * a[rows])
        hn, tn = h[rows], t[rows]
        b[rows] = half * ndtr(h_plus_t[rows]) - ndtr(hn - tn) / half
    for mask, diff in ((small_t, _y_difference_small_t), (other, _y_difference_erfcx)):
        rows = np.flatnonzero(mask)
        if rows.size:
            b[rows] = vega[rows] * diff(h[rows], t[rows])
    np.maximum(b, 0.0, out=b)
    return b, vega


def otm_black(a: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Normalised out-of-the-money Black value ``b(a, s)`` for ``a <= 0``.

    ``a``: log-moneyness ``-|ln(F/K)|`` (dimensionless, must be <= 0);
    ``s``: total volatility ``sigma * sqrt(T)`` (dimensionless, >= 0).
    Returns the undiscounted out-of-the-money option value divided by
    ``sqrt(F K)``, in ``[0, exp(a/2))``; exactly 0 where ``s == 0``.
    Arrays must already share one shape (float64).
    """
    live = s > 0.0
    if live.all():
        return otm_black_and_vega(a, s)[0]
    out = np.zeros_like(s)
    if live.any():
        out[live] = otm_black_and_vega(a[live], s[live])[0]
    return out


def otm_vega(a: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``d b(a, s) / d s`` (dimensionless) for ``a <= 0``: ``exp(-(h^2+t^2)/2) / sqrt(2 pi)``.

    0 where ``s == 0`` and ``a < 0``, and where it would underflow.
    """
    live = s > 0.0
    s1 = np.where(live, s, 1.0)
    h = np.where(live, a / s1, np.where(a < 0.0, -np.inf, 0.0))
    exponent = 0.5 * (h * h + 0.25 * s * s)
    return np.where(
        exponent < EXPONENT_CUTOFF, np.exp(-np.minimum(exponent, EXPONENT_CUTOFF)) / SQRT_2PI, 0.0
    )
