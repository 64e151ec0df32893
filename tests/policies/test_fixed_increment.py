"""fixed_increment: steps toward the goal on a timer or on price moves."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from bot.core.policies import fixed_increment
from bot.core.policies.fixed_increment import Params, target

from .support import check, make_state, states

D = Decimal


def params(**kw) -> Params:
    fields = dict(goal="1", step="0.2", interval_s=2, max_position="2")
    fields.update(kw)
    return Params(**fields)


def test_first_step_is_immediate_from_the_position() -> None:
    assert target(params(), make_state()).target == D("0.2")
    assert target(params(), make_state(position="0.5")).target == D("0.7")


@pytest.mark.parametrize("now, expected", [(1001.0, D("0.4")), (1001.99, D("0.4")), (1002.0, D("0.6"))])
def test_time_trigger(now: float, expected: Decimal) -> None:
    d = target(params(), make_state(target="0.4", target_set_ts=1000.0, now=now))
    assert d.target == expected


def test_last_step_clips_at_goal_and_goal_holds() -> None:
    assert target(params(), make_state(target="0.9", target_set_ts=0.0)).target == D("1")
    d = target(params(), make_state(target="1", target_set_ts=0.0))
    assert d.target == D("1") and d.rationale == "goal reached"


def test_steps_down_through_zero_toward_a_short_goal() -> None:
    p = params(goal="-0.3")
    assert target(p, make_state(target="0.1", target_set_ts=0.0)).target == D("-0.1")
    assert target(p, make_state(target="-0.2", target_set_ts=0.0)).target == D("-0.3")


def test_goal_beyond_cap_stops_at_cap() -> None:
    p = params(goal="5", step="1.5")
    assert target(p, make_state(target="1.5", target_set_ts=0.0)).target == D("2")
    assert target(p, make_state(target="2", target_set_ts=0.0)).rationale == "goal reached"


def test_step_below_lot_is_rounded_up_to_one_lot() -> None:
    d = target(params(step="0.0004"), make_state())
    assert d.target == D("0.001") and d.inputs["step"] == 0.001


def test_restart_without_target_time_counts_from_start() -> None:
    # target known but not its time: the engine start is the reference
    assert target(params(), make_state(target="0.2", started=999.0, now=1000.0)).target == D("0.2")
    assert target(params(), make_state(target="0.2", started=998.0, now=1000.0)).target == D("0.4")


# -- price_move ------------------------------------------------------------------------------------

# 1 s samples; the target was set 5 s ago, so the reference is mids[-6] = 100
MIDS = (90.0, 100.0, 101.0, 99.0, 100.5, 100.0, 100.0)


@pytest.mark.parametrize("mid, direction, stepped", [
    (100.05, "any", False), (100.11, "any", True), (99.89, "any", True),
    (100.11, "favourable", True), (99.89, "favourable", False),
    (99.89, "adverse", True), (100.11, "adverse", False),
])
def test_price_move_trigger(mid: float, direction: str, stepped: bool) -> None:
    p = params(trigger="price_move", move_bps=10, move_direction=direction)
    d = target(p, make_state(mid, mids=MIDS, target="0.4", target_set_ts=995.0, now=1000.0))
    assert d.inputs["reference_mid"] == 100.0
    assert d.target == (D("0.6") if stepped else D("0.4"))


def test_price_move_favourable_is_down_for_a_short_goal() -> None:
    p = params(goal="-1", trigger="price_move", move_bps=10, move_direction="favourable")
    state = make_state(99.89, mids=MIDS, target="-0.4", target_set_ts=995.0, now=1000.0)
    assert target(p, state).target == D("-0.6")


def test_price_move_reference_older_than_history_is_oldest_sample() -> None:
    p = params(trigger="price_move", move_bps=10)
    d = target(p, make_state(90.0, mids=MIDS, target="0.4", target_set_ts=0.0, now=1000.0))
    assert d.inputs["reference_mid"] == 90.0 and d.target == D("0.4")


def test_price_move_without_history_is_none() -> None:
    p = params(trigger="price_move", move_bps=10)
    assert target(p, make_state(target="0.4", target_set_ts=0.0)) is None


def test_validation() -> None:
    with pytest.raises(ValidationError, match="move_bps"):
        Params(goal="1", step="0.1", trigger="price_move", max_position="1")
    with pytest.raises(ValidationError):
        params(step="0")
    with pytest.raises(ValidationError):
        params(typo=1)
    assert fixed_increment.Params.model_fields["type"].default == "fixed_increment"


@settings(deadline=None, max_examples=300)
@given(states())
def test_invariants_and_progress(state) -> None:
    for p in (params(), params(goal="-3.3", step="0.7", max_position="2.5"),
              params(trigger="price_move", move_bps=5, move_direction="adverse")):
        t = check(target(p, state), state.spec, p.max_position)
        if t is None:
            continue
        goal = min(max(p.goal, -p.max_position), p.max_position)
        current = state.target if state.target is not None else state.position
        current = min(max(current, -p.max_position), p.max_position)
        # never moves away from the goal by more than lot truncation
        assert abs(t - goal) <= abs(current - goal) + state.spec.lot_size
