"""``gamma_scalp``: re-hedge the book's delta when the underlying has moved k σ since the last hedge.

The last hedge price is ``state.pnl.last_fill_price`` (this instrument's last fill). One σ is the
realised vol (see ``_vol``) over ``move_horizon_s``: σ_h = σ_annual · √(move_horizon_s / year).
Re-hedge (to the target delta, fully) when

* there has been no hedge fill yet, or
* |ln(S / S_last)| ≥ k · σ_h, or
* the deviation e = D + h·d − D* exceeds ``delta_band_coin`` (if set),

else keep the hedge in force. D, d, h, D* as in ``delta_neutral``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from bot.core.policies._hedging import clean, held, price, ratio
from bot.core.policies._sizing import to_target
from bot.core.policies._vol import SECONDS_PER_YEAR, VolEstimatorParams, estimate
from bot.core.policies.base import TargetDecision
from bot.core.policies.delta_neutral import MIN_CONTRACT_DELTA
from bot.core.types import InstrumentState


class Params(VolEstimatorParams):
    NEEDS: ClassVar[frozenset[str]] = frozenset({"greeks"})
    type: Literal["gamma_scalp"] = "gamma_scalp"
    target_delta_coin: float = Field(default=0.0, description="book delta to hold, hedge included, coins")
    move_sigmas: float = Field(default=1.0, gt=0, description="k: re-hedge after a move of k σ_h (log return)")
    move_horizon_s: float = Field(default=86_400.0, gt=0, description="seconds over which one σ_h is measured")
    delta_band_coin: float | None = Field(
        default=None, gt=0, description="also re-hedge when |delta deviation| exceeds this, coins",
    )
    max_position: Decimal = Field(gt=0, description="hard cap on |target|, contracts")


def target(params: Params, state: InstrumentState) -> TargetDecision | None:
    """Target hedge in contracts; ``None`` until the vol estimate and a price exist, or while a
    contract has no delta."""
    g = state.greeks
    d = g.instrument_delta_coin
    est = estimate(params, state.mid_history, state.sample_interval_s)
    s = price(state)
    if est is None or s is None or not math.isfinite(d) or abs(d) < MIN_CONTRACT_DELTA:
        return None
    sigma_h = max(est.used * math.sqrt(params.move_horizon_s / SECONDS_PER_YEAR), 1e-300)
    threshold = params.move_sigmas * sigma_h
    current = held(state, params.max_position)
    deviation = g.delta_coin + float(current) * d - params.target_delta_coin
    inputs = {**est.inputs(), "mid": s, "sigma_horizon": sigma_h, "move_threshold": threshold,
              "book_delta_coin": g.delta_coin, "contract_delta_coin": d, "gamma_coin": g.gamma_coin,
              "deviation_coin": deviation, "held_contracts": float(current)}
    last = state.pnl.last_fill_price
    last_price = float(last) if last is not None else math.nan
    if 0 < last_price < math.inf:
        move = abs(math.log(s) - math.log(last_price))
        inputs.update(last_hedge_price=last_price, move=move, move_sigmas=move / sigma_h)
        if move >= threshold:
            why = f"moved {move / sigma_h:.2f}σ (≥ {params.move_sigmas:g}) since {last_price:g}"
        elif params.delta_band_coin is not None and abs(deviation) > params.delta_band_coin:
            why = f"delta {deviation:+.4g} coins beyond ±{params.delta_band_coin:g}"
        else:
            return TargetDecision(current, f"moved {move / sigma_h:.2f}σ < {params.move_sigmas:g}σ; hold",
                                  inputs=clean(inputs))
    else:
        why = "no hedge fill yet"
    new = to_target(state.spec, ratio(params.target_delta_coin - g.delta_coin, d), params.max_position)
    inputs["after_delta_coin"] = g.delta_coin + float(new) * d
    return TargetDecision(new, f"{why}: re-hedge to {params.target_delta_coin:g} coins", inputs=clean(inputs))
