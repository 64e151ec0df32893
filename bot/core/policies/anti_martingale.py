"""``anti_martingale``: multiply the next trade's size after each consecutive win.

size = base_size × multiplier^step, step = current winning streak (see ``_streaks``); with the
default ``at_step_limit: reset`` the size drops back to the base after ``max_steps`` wins in a row
(a Paroli progression: press a hot hand a few times, then bank it). Any loss resets to the base.
Trades close at take-profit / stop-loss from the avg entry.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from bot.core.policies._streaks import StreakParams, streak_target
from bot.core.policies.base import TargetDecision
from bot.core.types import InstrumentState


class Params(StreakParams):
    NEEDS: ClassVar[frozenset[str]] = frozenset()
    type: Literal["anti_martingale"] = "anti_martingale"


def target(params: Params, state: InstrumentState) -> TargetDecision | None:
    """Entry size from the winning streak; exits at take-profit/stop-loss; ``None`` without a price."""
    return streak_target(params, state, losses=False)
