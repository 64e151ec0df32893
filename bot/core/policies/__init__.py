"""Position-scaling policies: pure functions from an instrument's state to a target position.

Each policy has a pydantic parameter model (selected in YAML by ``policy.type``) and a function
``(params, state, previous_target) -> TargetDecision | None``; ``None`` means "not enough data:
hold the previous target".
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Union

from pydantic import Field

from bot.core.policies.base import PolicyParams, TargetDecision
from bot.core.policies.target_schedule import TargetScheduleParams, target_schedule
from bot.core.policies.volatility_target import VolatilityTargetParams, volatility_target
from bot.core.types import InstrumentState

PolicyConfig = Annotated[
    Union[VolatilityTargetParams, TargetScheduleParams], Field(discriminator="type")
]


def compute_target(
    params: PolicyParams, state: InstrumentState, previous: Decimal | None
) -> TargetDecision | None:
    """Dispatch to the policy that ``params`` configures."""
    if isinstance(params, VolatilityTargetParams):
        return volatility_target(params, state, previous)
    if isinstance(params, TargetScheduleParams):
        return target_schedule(params, state)
    raise TypeError(f"no policy for {type(params).__name__}")


__all__ = ["PolicyConfig", "TargetDecision", "compute_target"]
