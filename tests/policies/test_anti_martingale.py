"""anti_martingale: size × multiplier per consecutive win (the shared cycle is tested with martingale)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from bot.core.policies.anti_martingale import Params, target

from .support import check, make_state, states

D = Decimal


def params(**kw) -> Params:
    fields = dict(base_size="0.1", multiplier=1.5, max_steps=3, take_profit_bps=20, stop_loss_bps=20,
                  max_position="1")
    fields.update(kw)
    return Params(**fields)


@pytest.mark.parametrize("pnls, expected", [
    ((), D("0.1")), ((-3.0,), D("0.1")), ((-3.0, 2.0), D("0.15")), ((2.0, 2.0), D("0.225")),
    ((2.0,) * 3, D("0.337")),  # 0.3375 truncated to the lot
    ((2.0,) * 4, D("0.1")),  # Paroli: bank it after max_steps wins
    ((2.0, 2.0, -1.0), D("0.1")), ((2.0, 0.0), D("0.1")),
])
def test_entry_size_from_winning_streak(pnls, expected: Decimal) -> None:
    assert target(params(), make_state(pnls=pnls)).target == expected


def test_hold_at_limit_cap_and_short() -> None:
    assert target(params(at_step_limit="hold"), make_state(pnls=(2.0,) * 9)).target == D("0.337")
    assert target(params(multiplier=10), make_state(pnls=(2.0,) * 2)).target == D("1")  # 10 capped at 1
    assert target(params(direction="short"), make_state(pnls=(2.0,))).target == D("-0.15")


def test_exits_like_martingale() -> None:
    state = make_state(50_100.0, target="0.15", position="0.15", avg_entry=50_000.0)
    assert target(params(), state).target == 0


def test_no_acknowledgement_needed_but_fields_checked() -> None:
    with pytest.raises(ValidationError):
        params(i_understand_martingale_risk=True)  # not a field of this policy
    with pytest.raises(ValidationError):
        params(multiplier=0.5)


@settings(deadline=None, max_examples=200)
@given(states())
def test_invariants(state) -> None:
    for p in (params(), params(direction="short", multiplier=10, max_steps=20, max_position="7.5")):
        check(target(p, state), state.spec, p.max_position)
