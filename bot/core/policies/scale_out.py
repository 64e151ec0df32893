"""``scale_out``: enter ``base_size``, then reduce in steps at profit targets.

Initial risk R = |entry − stop| with entry the average entry price and the stop either
``stop_bps`` from the entry or the absolute ``stop_price``. Each level is reached when the price
is ``r_multiple × R`` in favour of the entry, or at/through its absolute ``price``; the target is
then ``base_size × keep`` of the lowest ``keep`` reached, and never grows back within a trade (the
current target is the memory). At or through the stop the whole remainder is closed. A level
with ``keep: 0`` closes the trade at a profit. After an exit the policy re-enters from flat
(``reenter``, after ``cooldown_s``); absolute price levels then apply to the new trade too.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from bot.core.policies._hedging import clean
from bot.core.policies._sizing_inputs import BPS, sized
from bot.core.policies._trade_cycle import TradeCycleParams, cycle, decide, hold
from bot.core.policies.base import PolicyParams, TargetDecision
from bot.core.types import InstrumentState


class Level(PolicyParams):
    r_multiple: float | None = Field(default=None, gt=0, description="favourable move in multiples of R")
    price: float | None = Field(default=None, gt=0, description="absolute price target, quote currency")
    keep: float = Field(ge=0, lt=1, description="fraction of base_size kept once reached (0 = close)")

    @model_validator(mode="after")
    def _one_trigger(self) -> Level:
        if (self.r_multiple is None) == (self.price is None):
            raise ValueError("each level needs exactly one of r_multiple or price")
        return self


class Params(TradeCycleParams):
    NEEDS: ClassVar[frozenset[str]] = frozenset()
    type: Literal["scale_out"] = "scale_out"
    stop_bps: float | None = Field(default=None, gt=0, lt=10_000, description="stop distance from entry, bps")
    stop_price: float | None = Field(default=None, gt=0, description="absolute stop, quote currency")
    levels: list[Level] = Field(min_length=1, description="profit targets, any order")

    @model_validator(mode="after")
    def _one_stop(self) -> Params:
        if (self.stop_bps is None) == (self.stop_price is None):
            raise ValueError("stop_bps / stop_price: give exactly one")
        return self


def target(params: Params, state: InstrumentState) -> TargetDecision | None:
    """Entry at base size, reductions at the levels, full exit at the stop; ``None`` without a price."""
    c = cycle(params, state)
    if c is None:
        return None
    if c.phase == "hold":
        return hold(params, state, c)
    if c.phase == "enter":
        return decide(params, state, c.sign * float(params.base_size), f"{c.reason}: base size", mid=c.mid)
    assert c.entry is not None
    entry, s = c.entry, c.sign
    if params.stop_price is not None:
        stop = params.stop_price
    else:
        assert params.stop_bps is not None  # exactly one is validated
        stop = entry * (1 - s * params.stop_bps * BPS)
    risk = s * (entry - stop)
    gain = s * (c.mid - entry)
    r_now = gain / risk if risk > 0 else 0.0
    inputs = dict(mid=c.mid, avg_entry=entry, stop=stop, risk_per_unit=risk, r_multiple=r_now)
    if s * (c.mid - stop) <= 0:
        return decide(params, state, 0, f"stop at {stop:.6g} reached", **inputs)
    reached = [lvl.keep for lvl in params.levels
               if (lvl.r_multiple is not None and risk > 0 and gain >= lvl.r_multiple * risk)
               or (lvl.price is not None and s * (c.mid - lvl.price) >= 0)]
    size = abs(c.held)
    if reached:
        keep = min(reached)
        new = sized(state.spec, s * float(params.base_size) * keep, params.max_position)
        if abs(new) < size:
            why = "close at final target" if new == 0 else f"scale out to {keep:.0%} of base"
            return TargetDecision(new, f"{why} ({r_now:.2f} R)", inputs=clean({**inputs, "keep": keep}))
    return decide(params, state, c.held, "in trade, no new level reached", **inputs)
