"""martingale: size × multiplier per consecutive loss; the trade cycle shared with anti_martingale,
pyramid and scale_out; the mandatory risk acknowledgement."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from pydantic import TypeAdapter, ValidationError

from bot.core.policies import PolicyConfig
from bot.core.policies._streaks import streak_step, trailing_streak
from bot.core.policies.martingale import Params, target

from .support import check, make_state, states

D = Decimal


def params(**kw) -> Params:
    fields = dict(i_understand_martingale_risk=True, base_size="0.05", multiplier=2, max_steps=3,
                  take_profit_bps=20, stop_loss_bps=20, max_position="0.5")
    fields.update(kw)
    return Params(**fields)


def test_trailing_streak() -> None:
    assert trailing_streak((), losses=True) == 0
    assert trailing_streak((5.0, -1.0, -2.0), losses=True) == 2
    assert trailing_streak((5.0, -1.0, -2.0), losses=False) == 0
    assert trailing_streak((-1.0, 0.0), losses=True) == 0  # a scratch breaks the streak
    assert trailing_streak((1.0, 2.0, 3.0), losses=False) == 3


@pytest.mark.parametrize("streak, reset, hold", [(0, 0, 0), (1, 1, 1), (3, 3, 3), (4, 0, 3), (5, 1, 3), (8, 0, 3)])
def test_step_limit(streak: int, reset: int, hold: int) -> None:
    assert streak_step(streak, 3, "reset") == reset and streak_step(streak, 3, "hold") == hold


@pytest.mark.parametrize("pnls, expected", [
    ((), D("0.05")), ((3.0,), D("0.05")), ((3.0, -1.0), D("0.1")), ((3.0, -1.0, -1.0), D("0.2")),
    ((-1.0,) * 3, D("0.4")), ((-1.0,) * 4, D("0.05")), ((-1.0,) * 5, D("0.1")), ((-1.0, 0.0), D("0.05")),
])
def test_entry_size_from_losing_streak(pnls, expected: Decimal) -> None:
    d = target(params(), make_state(pnls=pnls))
    assert d.target == expected


def test_hold_at_step_limit_and_hard_cap() -> None:
    assert target(params(at_step_limit="hold"), make_state(pnls=(-1.0,) * 7)).target == D("0.4")
    assert target(params(base_size="0.1"), make_state(pnls=(-1.0,) * 3)).target == D("0.5")  # 0.8 capped
    assert target(params(direction="short"), make_state(pnls=(-1.0,))).target == D("-0.1")


@pytest.mark.parametrize("mid, expected, why", [
    (50_100.0, D("0"), "take profit"), (49_900.0, D("0"), "stop loss"), (50_050.0, D("0.1"), "in trade"),
    (49_950.0, D("0.1"), "in trade"),
])
def test_exits_at_take_profit_and_stop_loss(mid: float, expected: Decimal, why: str) -> None:
    state = make_state(mid, target="0.1", position="0.1", avg_entry=50_000.0, target_set_ts=900.0)
    d = target(params(), state)
    assert d.target == expected and d.rationale.startswith(why)


def test_short_take_profit_is_below() -> None:
    state = make_state(49_900.0, target="-0.1", position="-0.1", avg_entry=50_000.0)
    assert target(params(direction="short"), state).rationale.startswith("take profit")


def test_cycle_phases() -> None:
    p = params(cooldown_s=2)
    # exit being worked: hold 0 even though the price is back inside the band
    assert target(p, make_state(target="0", position="0.1", avg_entry=50_000.0)).target == 0
    # cooldown after the exit, then re-entry sized from the new streak
    assert target(p, make_state(target="0", target_set_ts=999.0, now=1000.0, pnls=(-1.0,))).target == 0
    assert target(p, make_state(target="0", target_set_ts=998.0, now=1000.0, pnls=(-1.0,))).target == D("0.1")
    assert target(params(reenter=False), make_state(target="0", target_set_ts=0.0)).target == 0
    # entry being worked, or no avg entry price yet: hold the target
    assert target(p, make_state(target="0.2", position="0")).target == D("0.2")
    assert target(p, make_state(target="0.2", position="0.1")).target == D("0.2")
    # restart: a same-side position is the trade, an opposite one is replaced by a fresh entry
    d = target(p, make_state(50_100.0, position="0.3", avg_entry=50_000.0))
    assert d.target == 0 and d.rationale.startswith("take profit")
    assert target(p, make_state(position="-0.3")).target == D("0.05")
    assert target(p, make_state(mid=None)) is None


def test_held_target_respects_a_lowered_cap() -> None:
    assert target(params(max_position="0.1"), make_state(target="0.2", position="0")).target == D("0.1")


def test_acknowledgement_is_required_and_named() -> None:
    fields = dict(base_size="0.05", take_profit_bps=20, stop_loss_bps=20, max_position="0.5")
    for extra in ({}, {"i_understand_martingale_risk": False}):
        with pytest.raises(ValidationError, match="i_understand_martingale_risk") as info:
            Params(**fields, **extra)
        assert info.value.errors()[0]["loc"] == ("i_understand_martingale_risk",)
    with pytest.raises(ValidationError, match="i_understand_martingale_risk"):
        TypeAdapter(PolicyConfig).validate_python({"type": "martingale", **fields})


def test_validation() -> None:
    for bad in ({"multiplier": 1}, {"max_steps": 0}, {"take_profit_bps": 0}, {"base_size": "0"},
                {"at_step_limit": "double"}, {"cooldown_s": -1}):
        with pytest.raises(ValidationError):
            params(**bad)


@settings(deadline=None, max_examples=300)
@given(states())
def test_invariants(state) -> None:
    for p in (params(), params(direction="short", multiplier=10, max_steps=20, max_position="7.5"),
              params(at_step_limit="hold", base_size="3", cooldown_s=100)):
        t = check(target(p, state), state.spec, p.max_position)
        if t is not None and state.target is None and state.position == 0:
            assert t * (1 if p.direction == "long" else -1) >= 0  # entries on the configured side
