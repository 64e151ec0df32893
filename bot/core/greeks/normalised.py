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
"""

from __future__ import annotations

import numpy as np
from scipy.special import erfcx, ndtr

SQRT_2PI = float(np.sqrt(2.0 * np.pi))
SQRT_HALF_PI = float(np.sqrt(0.5 * np.pi))
INV_SQRT2 = float(1.0 / np.sqrt(2.0))

NEAR_MAXIMUM_H_PLUS_T = 0.85
SMALL_T = 0.21
SMALL_T_MIN_H = -40.0
TAYLOR_ODD_TERMS = 7
EXPONENT_CUTOFF = 700.0


def _y_difference_small_t(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``Y(h + t) - Y(h - t)`` by its odd Taylor series in ``t`` (``t < 0.21``)."""
    y_prev = SQRT_HALF_PI * erfcx(-INV_SQRT2 * h)  # Y
    y_curr = 1.0 + h * y_prev  # Y'
    t2 = t * t
    term = t.copy()  # t^(2k+1) / (2k+1)!
    total = y_curr * term
    n = 1  # order of y_curr
    for k in range(1, TAYLOR_ODD_TERMS):
        # two recurrence steps: Y^(n+1), then Y^(n+2)
        y_prev, y_curr = y_curr, n * y_prev + h * y_curr
        n += 1
        y_prev, y_curr = y_curr, n * y_prev + h * y_curr
        n += 1
        term = term * t2 / ((2 * k) * (2 * k + 1))
        total = total + y_curr * term
    return 2.0 * total


def _y_difference_erfcx(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``Y(h + t) - Y(h - t)`` through ``erfcx`` (valid for ``h + t <= 0.85``)."""
    return SQRT_HALF_PI * (erfcx(-INV_SQRT2 * (h + t)) - erfcx(-INV_SQRT2 * (h - t)))


def otm_black(a: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Normalised out-of-the-money Black value ``b(a, s)`` for ``a <= 0``.

    ``a``: log-moneyness ``-|ln(F/K)|`` (dimensionless, must be <= 0);
    ``s``: total volatility ``sigma * sqrt(T)`` (dimensionless, >= 0).
    Returns the undiscounted out-of-the-money option value divided by
    ``sqrt(F K)``, in ``[0, exp(a/2))``; exactly 0 where ``s == 0``.
    Arrays must already share one shape (float64).
    """
    out = np.zeros_like(s)
    live = s > 0.0
    s_l = s[live]
    h = a[live] / s_l
    t = 0.5 * s_l
    # exp(-(h^2+t^2)/2) < 1e-304 makes b < 1e-303 outside the near-maximum region: 0.
    exponent = 0.5 * (h * h + t * t)
    near_max = h + t > NEAR_MAXIMUM_H_PLUS_T
    keep = near_max | (exponent < EXPONENT_CUTOFF)
    live[live] = keep
    h, t, exponent, near_max = h[keep], t[keep], exponent[keep], near_max[keep]
    a_l = a[live]
    b = np.empty_like(h)

    near_max = h + t > NEAR_MAXIMUM_H_PLUS_T
    small_t = ~near_max & (t < SMALL_T) & (h >= SMALL_T_MIN_H)
    other = ~(near_max | small_t)

    if near_max.any():
        an, hn, tn = a_l[near_max], h[near_max], t[near_max]
        half = np.exp(0.5 * an)
        b[near_max] = half * ndtr(hn + tn) - ndtr(hn - tn) / half
    for mask, diff in ((small_t, _y_difference_small_t), (other, _y_difference_erfcx)):
        if mask.any():
            hm, tm = h[mask], t[mask]
            b[mask] = np.exp(-exponent[mask]) / SQRT_2PI * diff(hm, tm)
    out[live] = np.maximum(b, 0.0)
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
