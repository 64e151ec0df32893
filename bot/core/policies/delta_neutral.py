"""``delta_neutral``: hedge the rest of the book's delta with this instrument, inside a no-trade band.

With D = ``state.greeks.delta_coin`` (the book's delta excluding this instrument, coins), d = one
contract's delta (``instrument_delta_coin``), h the hedge in force (current target, else the
position) and D* the target delta, the deviation is e = D + h·d − D*. While |e| ≤ H nothing
changes; outside, the new hedge brings the book to D* + sign(e)·H (``rehedge_to: edge``) or to D*
(``neutral``): contracts = (goal − D) / d.

The half-width H (coins) is fixed, or the Whalley–Wilmott (1997) asymptotically optimal band for
small proportional costs under exponential utility, with the e^{−r(T−t)} factor taken as 1:

    H = (3/2 · λ · S · Γ² / γ)^{1/3}

λ = cost_bps / 10 000 (cost per unit of notional traded), S the price (USD per coin), Γ =
``gamma_coin`` (coins per USD), γ the risk aversion (per USD), floored/capped by
``min_band_coin``/``max_band_coin``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from bot.core.policies._hedging import BIG, clean, held, price, ratio
from bot.core.policies._sizing import to_target
from bot.core.policies.base import PolicyParams, TargetDecision
from bot.core.types import InstrumentState

MIN_CONTRACT_DELTA = 1e-12
"""Below this |delta| (coins) a contract cannot hedge: hold (``None``)."""


class Params(PolicyParams):
    NEEDS: ClassVar[frozenset[str]] = frozenset({"greeks"})
    type: Literal["delta_neutral"] = "delta_neutral"
    target_delta_coin: float = Field(default=0.0, description="book delta to hold, hedge included, coins")
    band: Literal["fixed", "whalley_wilmott"] = Field(default="fixed", description="how the no-trade band is set")
    band_coin: float = Field(default=0.0, ge=0, description="fixed half-width of the no-trade band, coins")
    cost_bps: float = Field(
        default=5.0, ge=0, description="one-way cost of trading the hedge (half-spread + fee), bps of notional",
    )
    risk_aversion_per_usd: float | None = Field(
        default=None, gt=0, description="γ of exponential utility, per USD (whalley_wilmott only)",
    )
    min_band_coin: float = Field(default=0.0, ge=0, description="floor on the Whalley–Wilmott half-width, coins")
    max_band_coin: float | None = Field(default=None, gt=0, description="cap on the Whalley–Wilmott half-width, coins")
    rehedge_to: Literal["edge", "neutral"] = Field(
        default="edge", description="outside the band, trade to the nearer band edge or all the way to target",
    )
    max_position: Decimal = Field(gt=0, description="hard cap on |target|, contracts")

    @model_validator(mode="after")
    def _consistent(self) -> Params:
        if self.band == "whalley_wilmott" and self.risk_aversion_per_usd is None:
            raise ValueError("risk_aversion_per_usd: required when band is whalley_wilmott (γ, per USD)")
        if self.max_band_coin is not None and self.max_band_coin < self.min_band_coin:
            raise ValueError(f"max_band_coin ({self.max_band_coin}) must be at least min_band_coin "
                             f"({self.min_band_coin})")
        return self


def whalley_wilmott_band(cost_fraction: float, price: float, gamma: float, risk_aversion: float) -> float:
    """(3/2 · λ · S · Γ² / γ)^{1/3} in coins, computed in logs so it never overflows (≤ ``BIG``)."""
    if cost_fraction <= 0 or gamma == 0 or not math.isfinite(gamma):
        return 0.0 if math.isfinite(gamma) else BIG
    log_h = (math.log(1.5) + math.log(cost_fraction) + math.log(price) + 2 * math.log(abs(gamma))
             - math.log(risk_aversion)) / 3
    return math.exp(min(log_h, math.log(BIG)))


def half_width(params: Params, state: InstrumentState, s: float | None) -> float | None:
    """The no-trade half-width in coins, ``None`` if Whalley–Wilmott lacks a price."""
    if params.band == "fixed":
        return params.band_coin
    if s is None:
        return None
    assert params.risk_aversion_per_usd is not None
    h = whalley_wilmott_band(params.cost_bps / 1e4, s, state.greeks.gamma_coin, params.risk_aversion_per_usd)
    h = max(h, params.min_band_coin)
    return min(h, params.max_band_coin) if params.max_band_coin is not None else h


def target(params: Params, state: InstrumentState) -> TargetDecision | None:
    """Target hedge in contracts; ``None`` while a contract has no delta or (Whalley–Wilmott) no price."""
    g = state.greeks
    d = g.instrument_delta_coin
    if not math.isfinite(d) or abs(d) < MIN_CONTRACT_DELTA:
        return None
    s = price(state)
    h = half_width(params, state, s)
    if h is None:
        return None
    current = held(state, params.max_position)
    deviation = g.delta_coin + float(current) * d - params.target_delta_coin
    inputs = {"book_delta_coin": g.delta_coin, "contract_delta_coin": d, "gamma_coin": g.gamma_coin,
              "deviation_coin": deviation, "band_coin": h, "held_contracts": float(current)}
    if s is not None:
        inputs["mid"] = s
    if abs(deviation) <= h:
        return TargetDecision(current, f"delta {deviation:+.4g} coins inside ±{h:.4g} band", inputs=clean(inputs))
    goal = params.target_delta_coin
    if params.rehedge_to == "edge":
        goal += math.copysign(h, deviation)
    contracts = ratio(goal - g.delta_coin, d)
    new = to_target(state.spec, contracts, params.max_position)
    inputs["goal_delta_coin"] = goal
    inputs["after_delta_coin"] = g.delta_coin + float(new) * d
    return TargetDecision(
        target=new,
        rationale=f"delta {deviation:+.4g} coins outside ±{h:.4g} ({params.band}); re-hedge to {params.rehedge_to}",
        inputs=clean(inputs),
    )
