"""Streak sizing shared by ``martingale`` (multiply after losses) and ``anti_martingale``
(multiply after wins).

Each trade is entered from flat at ``base_size × multiplier^step`` contracts, where ``step`` is
the length of the current streak of losses (martingale) or wins (anti-martingale) at the end of
``pnl.closed_trade_pnls_usd`` (a trade with P&L exactly 0 breaks both streaks). Past
``max_steps`` the progression resets to the base (``at_step_limit: reset``: the streak is taken
modulo ``max_steps + 1``) or stays at the top step (``hold``). The result is always capped by
``max_position``. The open trade is closed at ``take_profit_bps`` / ``stop_loss_bps`` from the
average entry price, which is what produces the closed trades the next size depends on.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import Field

from bot.core.policies._sizing_inputs import signed_move_bps
from bot.core.policies._trade_cycle import TradeCycleParams, cycle, decide, hold
from bot.core.policies.base import TargetDecision
from bot.core.types import InstrumentState


class StreakParams(TradeCycleParams):
    multiplier: float = Field(default=2.0, gt=1, le=10, description="size factor per streak step")
    max_steps: int = Field(default=3, ge=1, le=20, description="streak steps before the step limit")
    at_step_limit: Literal["reset", "hold"] = Field(
        default="reset", description="past max_steps: back to base_size (reset) or stay at the top step (hold)")
    take_profit_bps: float = Field(gt=0, description="close the trade this far in favour of the avg entry, bps")
    stop_loss_bps: float = Field(gt=0, description="close the trade this far against the avg entry, bps")


def trailing_streak(pnls: tuple[float, ...], losses: bool) -> int:
    """Consecutive losing (``losses``) or winning trades at the end of ``pnls`` (oldest first)."""
    count = 0
    for pnl in reversed(pnls):
        if (pnl < 0) if losses else (pnl > 0):
            count += 1
        else:
            break
    return count


def streak_step(streak: int, max_steps: int, at_limit: str) -> int:
    """The progression step for a streak: the streak itself up to ``max_steps``, then reset/hold."""
    if streak <= max_steps:
        return streak
    return streak % (max_steps + 1) if at_limit == "reset" else max_steps


def streak_target(params: StreakParams, state: InstrumentState, losses: bool) -> TargetDecision | None:
    """The target for a streak policy; ``losses`` picks martingale (True) or anti-martingale."""
    c = cycle(params, state)
    if c is None:
        return None
    if c.phase == "hold":
        return hold(params, state, c)
    if c.phase == "enter":
        streak = trailing_streak(state.pnl.closed_trade_pnls_usd, losses)
        step = streak_step(streak, params.max_steps, params.at_step_limit)
        size = float(params.base_size) * params.multiplier ** step
        kind = "losses" if losses else "wins"
        return decide(params, state, c.sign * size,
                      f"{c.reason}: {streak} consecutive {kind}, step {step} → base × {params.multiplier:g}^{step}",
                      streak=streak, step=step, size=size, mid=c.mid)
    assert c.entry is not None
    move = signed_move_bps(c.mid, c.entry, c.sign)
    inputs = dict(mid=c.mid, avg_entry=c.entry, move_bps=move)
    if move >= params.take_profit_bps:
        return decide(params, state, 0, f"take profit: {move:+.1f} bps from entry", **inputs)
    if move <= -params.stop_loss_bps:
        return decide(params, state, 0, f"stop loss: {move:+.1f} bps from entry", **inputs)
    return hold(params, state, replace(c, reason="in trade, inside take-profit and stop-loss"),
                avg_entry=c.entry, move_bps=move)
