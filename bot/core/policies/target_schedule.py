"""``target_schedule``: a fixed list of targets that take effect at set times after start."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from bot.core.policies.base import PolicyParams, TargetDecision
from bot.core.types import InstrumentState


class ScheduleStep(PolicyParams):
    """One target from ``after_s`` on; its own ``urgency`` (deadline) if set, else the policy's."""

    after_s: float = Field(ge=0, description="seconds after the engine started")
    target: Decimal = Field(description="target position, contracts (signed)")


class Params(PolicyParams):
    NEEDS: ClassVar[frozenset[str]] = frozenset()
    type: Literal["target_schedule"] = "target_schedule"
    steps: list[ScheduleStep] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _ascending(cls, steps: list[ScheduleStep]) -> list[ScheduleStep]:
        times = [s.after_s for s in steps]
        if times != sorted(times):
            raise ValueError("steps must be in ascending after_s order")
        return steps


def target(params: Params, state: InstrumentState) -> TargetDecision | None:
    """The last step whose time has come; ``None`` (hold) before the first one."""
    elapsed = state.now - state.started_ts
    due = [s for s in params.steps if s.after_s <= elapsed]
    if not due:
        return None
    step = due[-1]
    return TargetDecision(
        target=step.target,
        rationale=f"schedule step at +{step.after_s:g}s",
        inputs={"elapsed_s": round(elapsed, 3)},
        urgency=step.urgency.urgency() if step.urgency is not None else None,
    )
