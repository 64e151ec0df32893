"""``inverse_variance``: cross-sectional sizing, notional ∝ 1/σ², scaled to a portfolio vol budget.

Over the universe (this instrument plus its peers), with σ_i each one's annualised realised vol
(floored/capped like ``volatility_target``) and an assumed uniform pairwise correlation ρ:

    notional_i = c / σ_i²        (so weight_i = (1/σ_i²) / Σ_j 1/σ_j² and notional_i = weight_i × gross)
    c = target_vol × capital_usd / √((1 − ρ)·Σ 1/σ_j² + ρ·(Σ 1/σ_j)²)

which makes the portfolio's annualised vol (all legs on the same side) equal target_vol ×
capital_usd USD. ρ = 1 (the default) is the conservative choice: the vol is at most the budget
for any correlation ≤ 1. Peers' vols come from ``state.peers``; this instrument's from its mids.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from bot.core.policies._hedging import book_mid, clean, within_band
from bot.core.policies._sizing import contracts_for_usd, to_target
from bot.core.policies._vol import VolEstimatorParams, clamp_vol, estimate
from bot.core.policies.base import TargetDecision
from bot.core.types import InstrumentState


class Params(VolEstimatorParams):
    NEEDS: ClassVar[frozenset[str]] = frozenset({"peers"})
    type: Literal["inverse_variance"] = "inverse_variance"
    target_vol: float = Field(gt=0, le=5, description="annualised portfolio vol, fraction of capital_usd")
    capital_usd: float = Field(gt=0, description="capital; the risk budget is target_vol × capital_usd USD/year")
    correlation: float = Field(default=1.0, ge=0, le=1, description="assumed pairwise correlation of returns")
    universe: list[str] = Field(
        default_factory=list, description="peer symbols to size against; empty = every peer",
    )
    direction: Literal["long", "short"] = "long"
    max_position: Decimal = Field(gt=0, description="hard cap on |target|, contracts")
    rebalance_band: float = Field(
        default=0.1, ge=0, lt=1,
        description="keep the previous target while the new one is within this fraction of it",
    )


def scale(vols: list[float], correlation: float) -> float:
    """USD of budget per unit of c: the portfolio vol of notionals 1/σ_i² (σ_i > 0)."""
    s2 = sum(1 / (v * v) for v in vols)
    s1 = sum(1 / v for v in vols)
    return math.sqrt((1 - correlation) * s2 + correlation * s1 * s1)


def target(params: Params, state: InstrumentState) -> TargetDecision | None:
    """Target in contracts, or ``None`` (hold) until every vol in the universe is known."""
    est = estimate(params, state.mid_history, state.sample_interval_s)
    price = book_mid(state)
    if est is None or price is None:
        return None
    peers = {p.symbol: p for p in state.peers if p.symbol != state.spec.symbol}
    names = params.universe or sorted(peers)
    vols = [est.used]
    for name in names:
        if name == state.spec.symbol:
            continue
        peer = peers.get(name)
        if peer is None or peer.realised_vol is None or not math.isfinite(peer.realised_vol):
            return None
        vols.append(clamp_vol(peer.realised_vol, params))
    own = vols[0]
    inv_var_sum = sum(1 / (v * v) for v in vols)
    weight = (1 / (own * own)) / inv_var_sum
    c = params.target_vol * params.capital_usd / scale(vols, params.correlation)
    gross = c * inv_var_sum
    sign = 1 if params.direction == "long" else -1
    usd = sign * weight * gross
    spec = state.spec
    new = to_target(spec, contracts_for_usd(spec, usd, price), params.max_position)
    inputs = clean({**est.inputs(), "mid": price, "weight": weight, "n_instruments": float(len(vols)),
                    "gross_notional_usd": gross, "target_usd": usd})
    if within_band(new, state.target, params.rebalance_band, params.max_position):
        return TargetDecision(state.target, f"within {params.rebalance_band:.0%} band of previous target",
                              inputs=inputs)  # type: ignore[arg-type]
    return TargetDecision(
        target=new,
        rationale=f"1/σ² weight {weight:.1%} of {len(vols)} (σ {own:.2%}), budget {params.target_vol:.0%} vol",
        inputs=inputs,
    )
