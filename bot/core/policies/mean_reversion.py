"""``mean_reversion``: lean against the price's deviation from its moving average.

z = (ln mid − mean of ln m) / sd of ln m over the last ``window`` sampled mids m, with the sd
floored at ``min_sd_bps`` (so a flat market cannot produce a huge z). Log prices make z
scale-free; for moves of a few percent it equals the z-score of the price itself.

target = −sign(z) × size_per_z × max(|z| − dead_band_z, 0), capped at ±max_position: the
position shrinks as the price reverts to the average and is flat inside the dead band.
``direction`` can restrict it to one side (long: only buy dips; short: only sell rallies).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from bot.core.policies._sizing_inputs import BPS, banded, current_mid, mean_var, sized
from bot.core.policies.base import PolicyParams, TargetDecision
from bot.core.types import InstrumentState


class Params(PolicyParams):
    NEEDS: ClassVar[frozenset[str]] = frozenset()
    type: Literal["mean_reversion"] = "mean_reversion"
    window: int = Field(ge=3, le=2048, description="mid samples in the moving average")
    size_per_z: Decimal = Field(gt=0, description="contracts per unit of |z| beyond the dead band")
    dead_band_z: float = Field(default=0.0, ge=0, description="|z| below this holds no position")
    min_sd_bps: float = Field(default=1.0, gt=0, description="floor on the standard deviation, bps")
    direction: Literal["both", "long", "short"] = Field(default="both", description="allowed side(s)")
    max_position: Decimal = Field(gt=0, description="hard cap on |target|, contracts")
    rebalance_band: float = Field(
        default=0.1, ge=0, lt=1, description="keep the current target while the new one is within this fraction of it")


def zscore(mid: float, mids: tuple[float, ...], min_sd_bps: float) -> tuple[float, float, float]:
    """(z, moving average, sd in bps) of ``mid`` against positive ``mids`` (at least two)."""
    logs = [math.log(m) for m in mids]
    mean, var = mean_var(logs)
    sd = max(math.sqrt(var), min_sd_bps * BPS)
    average = math.exp(mean) if mean < 709 else math.inf  # clean() keeps an overflow finite
    return (math.log(mid) - mean) / sd, average, sd / BPS


def target(params: Params, state: InstrumentState) -> TargetDecision | None:
    """Size against the z-score, or ``None`` before ``window`` samples."""
    mids = tuple(m for m in state.mid_history[-params.window:] if m > 0)
    mid = current_mid(state)
    if len(state.mid_history) < params.window or len(mids) < 2 or mid is None:
        return None
    z, average, sd_bps = zscore(mid, mids, params.min_sd_bps)
    excess = max(abs(z) - params.dead_band_z, 0.0)
    contracts = -math.copysign(excess, z) * float(params.size_per_z)
    if (params.direction == "long" and contracts < 0) or (params.direction == "short" and contracts > 0):
        contracts = 0.0
    return banded(state, sized(state.spec, contracts, params.max_position), params.rebalance_band,
                  params.max_position, f"z {z:+.2f} against the {params.window}-sample average",
                  dict(z=z, mid=mid, moving_average=average, sd_bps=sd_bps))
