"""``martingale``: multiply the next trade's size after each consecutive loss.

size = base_size × multiplier^step, step = current losing streak (see ``_streaks``), capped by
``max_steps`` and ``max_position``. Trades close at take-profit / stop-loss from the avg entry.

A losing streak grows the bet geometrically while equity shrinks: a long enough streak (certain
to come eventually) either hits the cap, which turns the "recovery" into a realised loss of the
whole progression, or ruins the account. It is therefore refused unless the config says
``i_understand_martingale_risk: true``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from bot.core.policies._streaks import StreakParams, streak_target
from bot.core.policies.base import TargetDecision
from bot.core.types import InstrumentState

ACKNOWLEDGEMENT = "i_understand_martingale_risk"


class Params(StreakParams):
    NEEDS: ClassVar[frozenset[str]] = frozenset()
    type: Literal["martingale"] = "martingale"
    i_understand_martingale_risk: bool = Field(
        default=False, validate_default=True,
        description="must be true: doubling after losses risks ruin (docs/policies.md)")

    @field_validator(ACKNOWLEDGEMENT)
    @classmethod
    def _acknowledged(cls, value: bool) -> bool:
        if value is not True:
            raise ValueError("must be true to use martingale sizing, which multiplies the size after every loss "
                             "and can ruin the account (see docs/policies.md)")
        return value


def target(params: Params, state: InstrumentState) -> TargetDecision | None:
    """Entry size from the losing streak; exits at take-profit/stop-loss; ``None`` without a price."""
    return streak_target(params, state, losses=True)
