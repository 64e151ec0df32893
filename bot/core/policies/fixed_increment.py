"""``fixed_increment``: move the target toward ``goal`` in fixed steps of ``step`` contracts.

Each step sets target ← current + sign(goal − current) × min(step, |goal − current|), where
current is the current target (the position on the first decision, so a restart resumes from
what is held). ``step`` is rounded up to a whole number of lots so every step makes progress.
The first step is taken at once; each later one when its trigger fires:

* ``time``: ``interval_s`` seconds have passed since the target was last set
  (``state.target_set_ts``; the engine start when unknown).
* ``price_move``: the mid has moved ``move_bps`` from the mid when the target was last set —
  in either direction (``any``), in favour of the side being built (``favourable``: up for a long
  goal; for a goal of 0, in favour of the position being reduced), or against it (``adverse``:
  averaging in). That reference mid is read from ``mid_history``
  ``(now − target_set_ts) / sample_interval_s`` samples back (the oldest sample if the history is
  shorter): an approximation, the history has no timestamps.

Once the goal is reached the target stays there.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from bot.core.policies._hedging import clean
from bot.core.policies._sizing_inputs import current_mid, samples_since, signed_move_bps, sized
from bot.core.policies.base import PolicyParams, TargetDecision
from bot.core.types import InstrumentState


class Params(PolicyParams):
    NEEDS: ClassVar[frozenset[str]] = frozenset()
    type: Literal["fixed_increment"] = "fixed_increment"
    goal: Decimal = Field(description="final target, contracts (signed)")
    step: Decimal = Field(gt=0, description="size of each increment, contracts (rounded up to the lot)")
    trigger: Literal["time", "price_move"] = Field(default="time", description="what fires the next step")
    interval_s: float = Field(default=60.0, gt=0, description="time trigger: seconds between steps")
    move_bps: float | None = Field(default=None, gt=0, description="price_move trigger: mid move per step, bps")
    move_direction: Literal["any", "favourable", "adverse"] = Field(
        default="any", description="price_move trigger: which moves count, relative to the goal's side")
    max_position: Decimal = Field(gt=0, description="hard cap on |target|, contracts")

    @model_validator(mode="after")
    def _trigger_complete(self) -> Params:
        if self.trigger == "price_move" and self.move_bps is None:
            raise ValueError("move_bps: required when trigger is price_move")
        return self


def reference_mid(state: InstrumentState, since_ts: float) -> float | None:
    """The sampled mid at about ``since_ts`` (the oldest sample if further back than the history)."""
    count = samples_since(state, since_ts)
    if count == 0:
        return None
    mid = state.mid_history[-count]
    return mid if mid > 0 else None


def target(params: Params, state: InstrumentState) -> TargetDecision | None:
    """The next step when due, else the current target; ``None`` when a needed price is missing."""
    spec = state.spec
    goal = sized(spec, float(params.goal), params.max_position)
    current = state.target if state.target is not None else state.position
    lots = (params.step / spec.lot_size).to_integral_value(rounding=ROUND_CEILING)
    step = max(lots, Decimal(1)) * spec.lot_size
    inputs: dict[str, float] = {"goal": float(goal), "current": float(current), "step": float(step)}
    if current == goal:
        return TargetDecision(goal, "goal reached", inputs=clean(inputs))
    due, why = True, "first step"
    if state.target is not None:
        since = state.target_set_ts if state.target_set_ts is not None else state.started_ts
        if params.trigger == "time":
            elapsed = state.now - since
            inputs["elapsed_s"] = elapsed
            due, why = elapsed >= params.interval_s, f"{elapsed:.1f}s since last step (every {params.interval_s:g}s)"
        else:
            mid, ref = current_mid(state), reference_mid(state, since)
            if mid is None or ref is None:
                return None
            side = goal if goal != 0 else current  # the side being built (or, toward flat, held)
            move = signed_move_bps(mid, ref, 1 if side > 0 else -1)
            inputs.update(mid=mid, reference_mid=ref, move_bps=move)
            counted = {"any": abs(move), "favourable": move, "adverse": -move}[params.move_direction]
            assert params.move_bps is not None  # validated for price_move
            due, why = counted >= params.move_bps, f"{move:+.1f} bps since last step ({params.move_direction})"
    if not due:
        return TargetDecision(sized(spec, float(current), params.max_position), f"waiting: {why}",
                              inputs=clean(inputs))
    remaining = goal - current
    nxt = current + (step if remaining > 0 else -step) if abs(remaining) > step else goal
    new = sized(spec, float(nxt), params.max_position)
    return TargetDecision(new, f"step toward {goal}: {why}", inputs=clean(inputs))
