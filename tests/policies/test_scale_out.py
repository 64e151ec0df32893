"""scale_out: reduce at R multiples or price targets, full exit at the stop."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from bot.core.policies.scale_out import Params, target

from .support import check, make_state, states

D = Decimal
LEVELS = [{"r_multiple": 1, "keep": 0.5}, {"r_multiple": 2, "keep": 0.25}, {"r_multiple": 3, "keep": 0}]


def params(**kw) -> Params:
    fields = dict(base_size="0.6", stop_bps=20, levels=LEVELS, max_position="1")
    fields.update(kw)
    return Params(**fields)


def in_trade(mid: float, size: str = "0.6", avg: float = 50_000.0):
    return make_state(mid, target=size, position=size, avg_entry=avg)


def test_entry_at_base_size() -> None:
    assert target(params(), make_state()).target == D("0.6")
    assert target(params(direction="short"), make_state()).target == D("-0.6")


@pytest.mark.parametrize("mid, expected", [
    (50_050.0, D("0.6")), (50_101.0, D("0.3")), (50_201.0, D("0.15")), (50_301.0, D("0")), (49_899.0, D("0")),
])
def test_r_multiple_levels(mid: float, expected: Decimal) -> None:
    # entry 50 000, stop 20 bps = 49 900, so R = 100 USD
    d = target(params(), in_trade(mid))
    assert d.target == expected
    assert d.inputs["risk_per_unit"] == pytest.approx(100)


def test_reductions_never_grow_back() -> None:
    assert target(params(), in_trade(50_050.0, size="0.3")).target == D("0.3")
    assert target(params(), in_trade(50_101.0, size="0.15")).target == D("0.15")


def test_stop_closes_the_remainder() -> None:
    d = target(params(), in_trade(49_850.0, size="0.3"))
    assert d.target == 0 and d.rationale.startswith("stop")


def test_price_levels_and_stop_price() -> None:
    p = params(stop_bps=None, stop_price=49_000.0,
               levels=[{"price": 50_500.0, "keep": 0.5}, {"r_multiple": 2, "keep": 0}])
    assert target(p, in_trade(50_400.0)).target == D("0.6")
    assert target(p, in_trade(50_500.0)).target == D("0.3")
    assert target(p, in_trade(52_000.0, size="0.3")).target == 0  # 2 R = 2 000 above 50 000
    assert target(p, in_trade(48_999.0)).target == 0


def test_short_scale_out() -> None:
    p = params(direction="short")
    state = make_state(49_899.0, target="-0.6", position="-0.6", avg_entry=50_000.0)
    assert target(p, state).target == D("-0.3")
    state = make_state(50_101.0, target="-0.6", position="-0.6", avg_entry=50_000.0)
    assert target(p, state).target == 0


def test_reentry_after_cooldown() -> None:
    p = params(cooldown_s=5)
    assert target(p, make_state(target="0", target_set_ts=996.0, now=1000.0)).target == 0
    assert target(p, make_state(target="0", target_set_ts=995.0, now=1000.0)).target == D("0.6")


def test_validation() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        params(stop_price=49_000.0)
    with pytest.raises(ValidationError, match="exactly one"):
        params(stop_bps=None)
    with pytest.raises(ValidationError, match="exactly one of r_multiple or price"):
        params(levels=[{"r_multiple": 1, "price": 50_500.0, "keep": 0.5}])
    for bad in ([], [{"r_multiple": 1, "keep": 1}], [{"r_multiple": 0, "keep": 0.5}]):
        with pytest.raises(ValidationError):
            params(levels=bad)


@settings(deadline=None, max_examples=300)
@given(states())
def test_invariants_and_only_reduces_in_trade(state) -> None:
    for p in (params(), params(direction="short", stop_bps=None, stop_price=1000.0, max_position="7.5",
                               levels=[{"price": 2000.0, "keep": 0.3}, {"r_multiple": 0.5, "keep": 0.9}])):
        t = check(target(p, state), state.spec, p.max_position)
        if t is not None and state.target is not None and state.target != 0 and state.position != 0:
            assert abs(t) <= min(abs(state.target), p.max_position)
