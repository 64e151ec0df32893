"""The trade life cycle shared by the trade-based sizing policies (martingale, anti_martingale,
pyramid, scale_out): enter from flat at a size the policy chooses, manage the open trade, exit to
flat, re-enter.

The state carries no "trade" object, so the phase is read from the current target (the policy's
own memory) and the position:

========================  =================  ==================================================
target                    position           phase
========================  =================  ==================================================
None (first decision)     flat / other side  ``enter``
None (restart)            same side          ``in_trade`` with the position as the target
0                         not flat           ``hold`` 0: the exit is being worked
0                         flat               ``hold`` 0 during ``cooldown_s`` (from the time the
                                             target was set to 0), then ``enter``; ``hold`` for
                                             good when ``reenter`` is false
non-zero                  flat / other side  ``hold``: the entry is being worked
non-zero                  same side          ``in_trade`` (``hold`` while no avg entry price)
========================  =================  ==================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pydantic import Field

from bot.core.policies._hedging import clean
from bot.core.policies._sizing_inputs import current_mid, sized
from bot.core.policies.base import PolicyParams, TargetDecision
from bot.core.types import InstrumentState


class TradeCycleParams(PolicyParams):
    """Fields every trade-based sizing policy has (no ``type``: each policy adds its own)."""

    direction: Literal["long", "short"] = Field(default="long", description="side of every entry")
    base_size: Decimal = Field(gt=0, description="size of a fresh entry with no history, contracts")
    cooldown_s: float = Field(default=0.0, ge=0, description="wait after an exit before re-entering, s")
    reenter: bool = Field(default=True, description="enter again after an exit (else stay flat)")
    max_position: Decimal = Field(gt=0, description="hard cap on |target|, contracts")


@dataclass(frozen=True, slots=True)
class Cycle:
    """Where the trade stands. ``held`` is the target to keep (signed, contracts); ``sign`` the
    side of the open trade (or of the next entry); ``entry`` the avg entry price when in trade."""

    phase: Literal["enter", "hold", "in_trade"]
    held: Decimal
    sign: int
    mid: float
    entry: float | None = None
    reason: str = ""


def _sign(x: Decimal) -> int:
    return (x > 0) - (x < 0)


def cycle(params: TradeCycleParams, state: InstrumentState) -> Cycle | None:
    """The phase of the trade, or ``None`` without a price."""
    mid = current_mid(state)
    if mid is None:
        return None
    direction = 1 if params.direction == "long" else -1
    pos, tgt = state.position, state.target
    if tgt is None:
        if pos == 0 or _sign(pos) != direction:
            return Cycle("enter", Decimal(0), direction, mid, reason="first entry")
        tgt = pos
    elif tgt == 0:
        if pos != 0:
            return Cycle("hold", Decimal(0), direction, mid, reason="exit being worked")
        if not params.reenter:
            return Cycle("hold", Decimal(0), direction, mid, reason="flat, re-entry disabled")
        exited = state.target_set_ts if state.target_set_ts is not None else state.started_ts
        if state.now - exited < params.cooldown_s:
            return Cycle("hold", Decimal(0), direction, mid, reason=f"cooldown {params.cooldown_s:g}s after exit")
        return Cycle("enter", Decimal(0), direction, mid, reason="re-entry")
    elif pos == 0 or _sign(pos) != _sign(tgt):
        return Cycle("hold", tgt, _sign(tgt), mid, reason="entry being worked")
    entry = state.pnl.avg_entry_price
    if entry is None or entry <= 0:
        return Cycle("hold", tgt, _sign(tgt), mid, reason="no average entry price yet")
    return Cycle("in_trade", tgt, _sign(tgt), mid, float(entry))


def decide(params: TradeCycleParams, state: InstrumentState, contracts: float | Decimal, rationale: str,
           **inputs: float) -> TargetDecision:
    """A decision for ``contracts`` (signed), snapped to the lot grid within ±max_position."""
    return TargetDecision(sized(state.spec, float(contracts), params.max_position), rationale,
                          inputs=clean(inputs))


def hold(params: TradeCycleParams, state: InstrumentState, c: Cycle, **inputs: float) -> TargetDecision:
    """Keep ``c.held`` (re-snapped, so a lowered cap takes effect)."""
    return decide(params, state, c.held, c.reason, mid=c.mid, **inputs)
