"""``kelly``: bet the (fractional) Kelly-optimal share of equity.

**binary** (win probability p, payoff ratio b = average win / average loss):
f* = p − (1 − p) / b is the share of equity to *lose* on a losing trade. A losing trade is taken
to be closed ``stop_bps`` against the entry, so notional = f × equity / (stop_bps / 10 000); the
default 10 000 bps stakes the whole notional (notional = f × equity, the most conservative
reading). The side is ``direction`` (long or short).

**continuous** (annualised drift μ, volatility σ, risk-free rate r): f* = (μ − r) / σ² is the
leverage, notional = f × equity; the sign is that of μ − r, restricted by ``direction`` (long:
never short, short: never long, both). σ is floored at ``sigma_floor``.

The bet is f = clip(fraction × f*, ±max_fraction); f* ≤ 0 (no edge) means no position.

Each of p, b, μ, σ is taken from the config when given, else estimated — and the estimate's
uncertainty shrinks the bet, with ``shrink_k`` standard errors:

* p: Wilson lower confidence bound with z = shrink_k on the last ``trade_window`` closed trades
  (P&L 0 trades ignored); needs ``min_trades``.
* b: (mean win − k·SE) / (mean loss + k·SE); needs at least 2 wins and 2 losses.
* μ: the mean log return of the last ``return_window`` mid samples, moved toward r by k·σ/√n
  (never past it); needs ``min_samples`` mids.
* σ²: the sample variance, inflated by k standard errors (SE of a variance ≈ σ²·√(2/(n−1))).

Everything is computed per sample (a configured annual μ, σ, r is scaled by
``sample_interval_s / year``), so the result does not depend on the sampling interval.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from bot.core.policies._sizing import contracts_for_usd
from bot.core.policies._sizing_inputs import BPS, banded, clip, current_mid, equity_usd, mean_var, safe_div, sized
from bot.core.policies._vol import SECONDS_PER_YEAR, log_returns
from bot.core.policies.base import PolicyParams, TargetDecision
from bot.core.types import InstrumentState

_BINARY_ONLY = ("win_probability", "payoff_ratio", "stop_bps", "min_trades", "trade_window")
_CONTINUOUS_ONLY = ("mu", "sigma", "risk_free_rate", "return_window", "min_samples", "sigma_floor")


class Params(PolicyParams):
    NEEDS: ClassVar[frozenset[str]] = frozenset({"account"})
    type: Literal["kelly"] = "kelly"
    form: Literal["binary", "continuous"]
    fraction: float = Field(default=0.5, gt=0, le=1, description="fractional Kelly multiplier (0.5 = half Kelly)")
    max_fraction: float = Field(default=1.0, gt=0, le=10, description="cap on |f|: leverage (continuous) or "
                                                                         "share of equity at risk (binary)")
    capital_usd: float | None = Field(default=None, gt=0, description="equity used when the account is unknown, USD")
    direction: Literal["long", "short", "both"] = Field(default="long", description="allowed side(s); "
                                                        "binary needs long or short")
    shrink_k: float = Field(default=2.0, ge=0, le=10, description="standard errors taken off estimated edges")
    # binary
    win_probability: float | None = Field(default=None, gt=0, lt=1, description="p; None = estimate")
    payoff_ratio: float | None = Field(default=None, gt=0, description="b = avg win / avg loss; None = estimate")
    stop_bps: float = Field(default=10_000, gt=0, le=10_000, description="adverse move closing a losing trade, bps")
    min_trades: int = Field(default=20, ge=2, description="closed trades before estimating p")
    trade_window: int = Field(default=100, ge=2, description="closed trades used in estimates")
    # continuous
    mu: float | None = Field(default=None, ge=-10, le=10, description="annualised drift; None = estimate")
    sigma: float | None = Field(default=None, gt=0, le=10, description="annualised volatility; None = estimate")
    risk_free_rate: float = Field(default=0.0, ge=-1, le=1, description="annualised, e.g. the funding you forgo")
    return_window: int = Field(default=200, ge=2, description="mid samples used in estimates")
    min_samples: int = Field(default=30, ge=3, description="mid samples before estimating μ or σ")
    sigma_floor: float = Field(default=0.05, gt=0, description="annualised floor on σ")
    max_position: Decimal = Field(gt=0, description="hard cap on |target|, contracts")
    rebalance_band: float = Field(
        default=0.1, ge=0, lt=1, description="keep the current target while the new one is within this fraction of it")

    @model_validator(mode="after")
    def _consistent(self) -> Params:
        other = _CONTINUOUS_ONLY if self.form == "binary" else _BINARY_ONLY
        stray = sorted(k for k in other if k in self.model_fields_set)
        if stray:
            raise ValueError(f"{', '.join(stray)}: not used by the {self.form} form")
        if self.form == "binary" and self.direction == "both":
            raise ValueError("direction: the binary form bets one side, long or short")
        if self.min_trades > self.trade_window:
            raise ValueError("min_trades: must not exceed trade_window")
        return self


def wilson_lower(wins: int, n: int, z: float) -> float:
    """Lower bound of the Wilson score interval for a proportion (z standard errors)."""
    if n == 0:
        return 0.0
    p = wins / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, (centre - half) / (1 + z2 / n))


def _binary(params: Params, state: InstrumentState) -> tuple[float, dict[str, float]] | None:
    """(f*, inputs) for the binary form, or None without enough closed trades."""
    pnls = [x for x in state.pnl.closed_trade_pnls_usd[-params.trade_window:] if x != 0 and math.isfinite(x)]
    wins = [x for x in pnls if x > 0]
    losses = [-x for x in pnls if x < 0]
    inputs: dict[str, float] = {"trades": len(pnls), "wins": len(wins)}
    k = params.shrink_k
    if params.win_probability is not None:
        p = params.win_probability
    elif len(pnls) >= params.min_trades:
        p = wilson_lower(len(wins), len(pnls), k)
        inputs["p_raw"] = len(wins) / len(pnls)
    else:
        return None
    if params.payoff_ratio is not None:
        b = params.payoff_ratio
    elif len(wins) >= 2 and len(losses) >= 2:
        # scale by the largest |P&L| so sums and variances cannot overflow
        scale = max(max(wins), max(losses))
        mw, vw = mean_var([x / scale for x in wins])
        ml, vl = mean_var([x / scale for x in losses])
        b = safe_div(max(mw - k * math.sqrt(vw / len(wins)), 0.0), ml + k * math.sqrt(vl / len(losses)))
        inputs["b_raw"] = safe_div(mw, ml)
    elif params.win_probability is None and not wins:
        b = 1.0  # no win in the window: p = 0 makes f* < 0 whatever b is
    else:
        return None
    inputs.update(p=p, b=b)
    f_star = p - safe_div(1 - p, b)
    return f_star, inputs


def _continuous(params: Params, state: InstrumentState) -> tuple[float, dict[str, float]] | None:
    """(f*, inputs) for the continuous form, or None before ``min_samples`` mids."""
    per_sample = state.sample_interval_s / SECONDS_PER_YEAR
    k = params.shrink_k
    r = params.risk_free_rate * per_sample
    inputs: dict[str, float] = {}
    n, mean_hat, var_hat = 0, 0.0, 0.0
    if params.mu is None or params.sigma is None:
        if len(state.mid_history) < params.min_samples:
            return None
        returns = log_returns(state.mid_history[-params.return_window:])
        if len(returns) < 2:
            return None
        n = len(returns)
        mean_hat, var_hat = mean_var(returns)
        inputs["n_returns"] = n
    if params.sigma is not None:
        var = params.sigma ** 2 * per_sample
    else:
        var = var_hat * (1 + k * math.sqrt(2 / (n - 1)))
        inputs["sigma_raw"] = math.sqrt(var_hat / per_sample) if per_sample > 0 else 0.0
    var = max(var, params.sigma_floor ** 2 * per_sample)
    if params.mu is not None:
        excess = params.mu * per_sample - r
    else:
        raw = mean_hat - r
        excess = math.copysign(max(abs(raw) - k * math.sqrt(var_hat / n), 0.0), raw)
        inputs["mu_raw"] = safe_div(raw + r, per_sample)
    f_star = safe_div(excess, var)
    inputs.update(mu_excess=safe_div(excess, per_sample), sigma=math.sqrt(safe_div(var, per_sample)))
    return f_star, inputs


def target(params: Params, state: InstrumentState) -> TargetDecision | None:
    """The Kelly target, or ``None`` without a price, an equity or enough data for an estimate."""
    mid = current_mid(state)
    equity = equity_usd(state, params.capital_usd)
    if mid is None or equity is None:
        return None
    found = _binary(params, state) if params.form == "binary" else _continuous(params, state)
    if found is None:
        return None
    f_star, inputs = found
    if params.form == "binary":
        f = max(0.0, min(params.max_fraction, params.fraction * f_star))
        sign = 1 if params.direction == "long" else -1
        notional = sign * safe_div(f * equity, params.stop_bps * BPS)
    else:
        f = clip(params.fraction * f_star, params.max_fraction)
        if (params.direction == "long" and f < 0) or (params.direction == "short" and f > 0):
            f = 0.0
        notional = f * equity
    inputs.update(f_star=f_star, f=f, equity_usd=equity, notional_usd=notional, mid=mid)
    new = sized(state.spec, contracts_for_usd(state.spec, notional, mid), params.max_position)
    return banded(state, new, params.rebalance_band, params.max_position,
                  f"{params.form} Kelly f* {f_star:+.3f} × {params.fraction:g} → f {f:+.3f}", inputs)
