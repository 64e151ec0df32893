"""Realised volatility from sampled mids, shared by the volatility-based policies.

Returns are log returns of mids taken every ``step`` samples (aligned so the latest mid is always
used), computed as ``log(b) − log(a)`` so that any positive finite pair gives a finite return;
non-positive or non-finite mids are skipped. Both estimators assume a zero mean (at these
horizons the mean is noise) and are **annualised with 365-day years** (crypto trades every day):
σ_annual = σ_per_return × √(SECONDS_PER_YEAR / return interval in seconds).

* ``ewma``: RiskMetrics recursion var ← λ·var + (1 − λ)·r², seeded with the first r², over the
  returns whose weight is not negligible; incremental (O(1) per new sample) on the engine's
  :class:`~bot.core.mids.MidHistory` (see :mod:`bot.core.mids`).
* ``window``: root mean square of the last ``window`` returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

from pydantic import Field, model_validator

from bot.core.mids import ewma_variance, log_return
from bot.core.policies.base import PolicyParams

SECONDS_PER_YEAR = 365.0 * 24 * 3600
MAX_VOL = 1e6
"""Any vol used is at most this (10⁸ %), whatever ``vol_cap``: keeps 1/σ² and friends finite."""


def log_returns(mids: Sequence[float], step: int = 1) -> list[float]:
    """Log returns between every ``step``-th mid, oldest first, ending at the latest mid."""
    picked = list(mids)[::-1][::step][::-1]
    returns = (log_return(a, b) for a, b in zip(picked, picked[1:]))
    return [r for r in returns if r is not None]


def annualise(var_per_return: float, interval_s: float) -> float:
    """Annualised vol from a per-return variance over ``interval_s`` seconds (inf if it overflows)."""
    try:
        return math.sqrt(var_per_return * (SECONDS_PER_YEAR / interval_s))
    except (OverflowError, ZeroDivisionError):
        return math.inf


def ewma_vol(mids: Sequence[float], lam: float, interval_s: float, step: int = 1) -> float:
    """Annualised EWMA vol of ``mids`` sampled every ``interval_s`` s (0.0 without a return)."""
    ewma = ewma_variance(mids, lam, step)
    return annualise(ewma[0], interval_s * step) if ewma is not None else 0.0


def window_vol(mids: Sequence[float], window: int, interval_s: float, step: int = 1) -> float | None:
    """Annualised RMS vol of the last ``window`` returns; ``None`` with fewer returns."""
    returns = log_returns(mids[-(window * step + 1):], step)
    if len(returns) < window:
        return None
    last = returns[-window:]
    return annualise(sum(r * r for r in last) / window, interval_s * step)


class VolEstimatorParams(PolicyParams):
    """The realised-vol settings shared by ``volatility_target``, ``inverse_variance`` and
    ``gamma_scalp`` (not a policy itself: it has no ``type``)."""

    estimator: Literal["ewma", "window"] = Field(default="ewma", description="ewma (RiskMetrics) or window (RMS)")
    ewma_lambda: float = Field(default=0.94, gt=0, lt=1, description="EWMA decay per return; RiskMetrics 0.94")
    window: int = Field(default=60, ge=2, description="returns in the window (estimator: window)")
    return_interval_s: float | None = Field(
        default=None, gt=0,
        description="seconds between the returns used, rounded to whole mid samples; default the sampling interval",
    )
    min_samples: int = Field(default=20, ge=3, description="mid samples before the first estimate")
    vol_floor: float = Field(default=0.05, ge=1e-6, description="annualised fraction; the vol used is at least this")
    vol_cap: float | None = Field(default=None, gt=0, description="annualised fraction; the vol used is at most this")

    @model_validator(mode="after")
    def _floor_below_cap(self) -> VolEstimatorParams:
        if self.vol_cap is not None and self.vol_cap < self.vol_floor:
            raise ValueError(f"vol_cap ({self.vol_cap}) must be at least vol_floor ({self.vol_floor})")
        return self


@dataclass(frozen=True, slots=True)
class VolEstimate:
    """``realised`` and ``used`` (floored and capped) annualised vol; the returns behind them."""

    realised: float
    used: float
    n_returns: int
    return_interval_s: float

    def inputs(self) -> dict[str, float]:
        return {"realised_vol": round(self.realised, 6), "vol_used": round(self.used, 6),
                "n_returns": float(self.n_returns), "return_interval_s": self.return_interval_s}


def clamp_vol(vol: float, params: VolEstimatorParams) -> float:
    """``vol`` floored at ``vol_floor`` and capped at ``vol_cap``."""
    used = min(max(vol, params.vol_floor), MAX_VOL)
    return min(used, params.vol_cap) if params.vol_cap is not None else used


def estimate(params: VolEstimatorParams, mids: Sequence[float], interval_s: float) -> VolEstimate | None:
    """The configured estimate from ``mids`` sampled every ``interval_s`` s, or ``None`` until
    ``min_samples`` mids (and, for ``window``, ``window`` returns) are in, or if it is not finite."""
    if len(mids) < params.min_samples or not 0 < interval_s < math.inf:
        return None
    step = 1 if params.return_interval_s is None else max(1, round(params.return_interval_s / interval_s))
    if params.estimator == "ewma":
        ewma = ewma_variance(mids, params.ewma_lambda, step)
        if ewma is None:
            return None
        var, n = ewma
        vol = annualise(var, interval_s * step)
    else:
        window = window_vol(mids, params.window, interval_s, step)
        if window is None:
            return None
        n, vol = params.window, window
    if not math.isfinite(vol):
        return None
    return VolEstimate(vol, clamp_vol(vol, params), n, interval_s * step)
