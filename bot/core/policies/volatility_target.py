"""``volatility_target``: hold the position whose annualised volatility equals a target.

size (coins) = target_vol / realised_vol × capital_usd / price, realised vol an EWMA of log
returns of mids sampled every ``sample_interval_s`` (RiskMetrics λ = 0.94 by default), annualised
with 365-day years (crypto trades every day), floored at ``vol_floor``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Literal

from pydantic import Field

from bot.core.policies.base import PolicyParams, TargetDecision
from bot.core.policies._sizing import contracts_for_usd, to_target
from bot.core.types import InstrumentState

SECONDS_PER_YEAR = 365.0 * 24 * 3600


class Params(PolicyParams):
    type: Literal["volatility_target"] = "volatility_target"
    target_vol: float = Field(gt=0, le=5, description="annualised, 0.5 = 50 %")
    capital_usd: float = Field(gt=0, description="capital the target vol applies to, USD")
    direction: Literal["long", "short"] = "long"
    ewma_lambda: float = Field(default=0.94, gt=0, lt=1)
    min_samples: int = Field(default=20, ge=3, description="mid samples before the first target")
    vol_floor: float = Field(default=0.05, gt=0, description="annualised; caps size at low vol")
    max_position: Decimal = Field(gt=0, description="hard cap on |target|, contracts")
    rebalance_band: float = Field(
        default=0.1, ge=0, lt=1,
        description="keep the previous target while the new one is within this fraction of it",
    )


def ewma_vol(mids: tuple[float, ...], lam: float, interval_s: float) -> float:
    """Annualised EWMA volatility of log returns of ``mids`` sampled every ``interval_s``."""
    returns = [math.log(b / a) for a, b in zip(mids, mids[1:]) if a > 0 and b > 0]
    if not returns:
        return 0.0
    var = returns[0] ** 2
    for r in returns[1:]:
        var = lam * var + (1 - lam) * r * r
    return math.sqrt(var * SECONDS_PER_YEAR / interval_s)


def target(params: Params, state: InstrumentState) -> TargetDecision | None:
    """Target in contracts, or ``None`` (hold) until ``min_samples`` mids are in."""
    if len(state.mid_history) < params.min_samples or state.book is None or state.book.mid is None:
        return None
    spec = state.spec
    realised = ewma_vol(state.mid_history, params.ewma_lambda, state.sample_interval_s)
    vol = max(realised, params.vol_floor)
    price = float(state.book.mid)
    sign = 1 if params.direction == "long" else -1
    usd = sign * params.target_vol / vol * params.capital_usd
    target = to_target(spec, contracts_for_usd(spec, usd, price), params.max_position)
    inputs = {"realised_vol": round(realised, 6), "vol_used": round(vol, 6), "mid": price}
    previous = state.target
    if previous is not None and previous != 0 and abs(target - previous) <= abs(previous) * Decimal(repr(params.rebalance_band)):
        return TargetDecision(previous, f"within {params.rebalance_band:.0%} band of previous target", inputs=inputs)
    return TargetDecision(
        target=target,
        rationale=f"target_vol {params.target_vol:.2%} / realised {vol:.2%}",
        inputs=inputs,
    )
