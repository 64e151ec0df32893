"""``volatility_target``: hold the position whose annualised volatility equals a target.

size (USD) = ± target_vol / σ × capital_usd, in contracts at the book's mid, where σ is the
realised vol of mids sampled every ``sample_interval_s`` (optionally resampled to
``return_interval_s``), estimated by EWMA (RiskMetrics λ = 0.94 by default) or as the RMS of a
window of returns, annualised with 365-day years, then floored at ``vol_floor`` and capped at
``vol_cap``. See ``docs/policies.md``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from bot.core.policies._hedging import book_mid, clean, within_band
from bot.core.policies._sizing import contracts_for_usd, to_target
from bot.core.policies._vol import SECONDS_PER_YEAR, VolEstimatorParams, estimate, ewma_vol
from bot.core.policies.base import TargetDecision
from bot.core.types import InstrumentState

__all__ = ["SECONDS_PER_YEAR", "Params", "ewma_vol", "target"]


class Params(VolEstimatorParams):
    NEEDS: ClassVar[frozenset[str]] = frozenset()
    type: Literal["volatility_target"] = "volatility_target"
    target_vol: float = Field(gt=0, le=5, description="annualised fraction, 0.5 = 50 %")
    capital_usd: float = Field(gt=0, description="capital the target vol applies to, USD")
    direction: Literal["long", "short"] = "long"
    max_position: Decimal = Field(gt=0, description="hard cap on |target|, contracts")
    rebalance_band: float = Field(
        default=0.1, ge=0, lt=1,
        description="keep the previous target while the new one is within this fraction of it",
    )


def target(params: Params, state: InstrumentState) -> TargetDecision | None:
    """Target in contracts, or ``None`` (hold) until the vol estimate and a two-sided book exist."""
    est = estimate(params, state.mid_history, state.sample_interval_s)
    price = book_mid(state)
    if est is None or price is None:
        return None
    spec = state.spec
    sign = 1 if params.direction == "long" else -1
    usd = sign * params.target_vol / est.used * params.capital_usd
    new = to_target(spec, contracts_for_usd(spec, usd, price), params.max_position)
    inputs = clean({**est.inputs(), "mid": price, "target_usd": usd})
    previous = state.target
    if previous is not None and within_band(new, previous, params.rebalance_band, params.max_position):
        return TargetDecision(previous, f"within {params.rebalance_band:.0%} band of previous target", inputs=inputs)
    return TargetDecision(
        target=new,
        rationale=f"target_vol {params.target_vol:.2%} / {params.estimator} vol {est.used:.2%}",
        inputs=inputs,
    )
