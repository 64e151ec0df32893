"""pyramid: decreasing adds on favourable moves from the avg entry, trailing stop on the whole."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from bot.core.policies.pyramid import Params, ladder, target

from .support import check, make_state, states

D = Decimal


def params(**kw) -> Params:
    fields = dict(base_size="0.4", add_every_bps=10, add_decay=0.5, max_adds=3, trail_bps=25, max_position="1")
    fields.update(kw)
    return Params(**fields)


def in_trade(mid: float, size: str, avg: float, position: str | None = None, **kw):
    return make_state(mid, target=size, position=position or size, avg_entry=avg, **kw)


def test_ladder_is_decreasing_adds() -> None:
    assert ladder(params()) == pytest.approx([0.4, 0.6, 0.7, 0.75])


def test_entry_and_first_add() -> None:
    assert target(params(), make_state()).target == D("0.4")
    d = target(params(), in_trade(50_060.0, "0.4", 50_000.0))
    assert d.target == D("0.6") and d.rationale.startswith("add 1/3")
    assert target(params(), in_trade(50_040.0, "0.4", 50_000.0)).target == D("0.4")


def test_next_add_is_measured_from_the_new_avg_entry() -> None:
    # after the first add the avg entry is 50 020: 50 060 is only 8 bps above it
    assert target(params(), in_trade(50_060.0, "0.6", 50_020.0)).target == D("0.6")
    assert target(params(), in_trade(50_080.0, "0.6", 50_020.0)).target == D("0.7")


def test_waits_for_the_previous_add_to_fill() -> None:
    d = target(params(), in_trade(50_100.0, "0.6", 50_000.0, position="0.5"))
    assert d.target == D("0.6") and "fill" in d.rationale


def test_max_adds_and_cap() -> None:
    d = target(params(), in_trade(51_000.0, "0.75", 50_000.0))
    assert d.target == D("0.75") and d.rationale == "all adds done"
    # cap 0.65: the ladder is 0.4, 0.6, 0.65, 0.65, so 0.65 is the top
    assert target(params(max_position="0.65"), in_trade(50_100.0, "0.6", 50_000.0)).target == D("0.65")
    assert target(params(max_position="0.65"), in_trade(51_000.0, "0.65", 50_000.0)).target == D("0.65")
    assert target(params(max_adds=0), in_trade(51_000.0, "0.4", 50_000.0)).target == D("0.4")


def test_trailing_stop_from_best_mid_since_last_set() -> None:
    mids = (50_000.0, 50_300.0, 50_100.0, 50_200.0, 50_150.0, 50_100.0)  # 1 s apart, newest at t = 1000
    # set 3 s ago: the window is 50 200, 50 150, 50 100 and the mid 50 070: 25.9 bps off 50 200
    d = target(params(), in_trade(50_070.0, "0.6", 50_000.0, mids=mids, target_set_ts=997.0))
    assert d.target == 0 and d.inputs["best_mid"] == 50_200.0 and d.rationale.startswith("trailing stop")
    # set 1 s ago: best 50 150, 15.9 bps off: no stop (and no add: avg 50 000 is 14 bps below)
    d = target(params(), in_trade(50_070.0, "0.6", 50_020.0, mids=mids, target_set_ts=999.0))
    assert d.target == D("0.6") and d.inputs["best_mid"] == 50_150.0


def test_short_pyramid() -> None:
    p = params(direction="short")
    assert target(p, make_state()).target == D("-0.4")
    assert target(p, in_trade(49_940.0, "-0.4", 50_000.0)).target == D("-0.6")
    mids = (49_800.0,)
    assert target(p, in_trade(49_930.0, "-0.6", 50_000.0, mids=mids, target_set_ts=1000.0)).target == 0


def test_restart_reads_adds_from_the_position() -> None:
    state = make_state(50_100.0, position="0.6", avg_entry=50_020.0)
    assert target(params(), state).target == D("0.7")


def test_validation() -> None:
    for bad in ({"add_decay": 0}, {"add_decay": 1.5}, {"trail_bps": 0}, {"max_adds": -1}, {"add_every_bps": 0}):
        with pytest.raises(ValidationError):
            params(**bad)


@settings(deadline=None, max_examples=300)
@given(states())
def test_invariants_and_ratchet(state) -> None:
    for p in (params(), params(direction="short", add_decay=1, max_adds=20, max_position="7.5")):
        t = check(target(p, state), state.spec, p.max_position)
        if t and state.target:  # within a trade the target never shrinks except to flat
            assert abs(t) >= min(abs(state.target), p.max_position) - state.spec.lot_size


def test_trailing_stop_uses_the_engine_tracked_best_mid_since_entry() -> None:
    from dataclasses import replace

    # the samples since the last add never saw the peak; the engine's tracked best mid did
    state = in_trade(50_100.0, "0.6", 50_090.0, mids=(50_100.0, 50_120.0), target_set_ts=999.0)
    assert target(params(), state).target == D("0.6")  # 2 bps off the sampled best: hold
    tracked = replace(state, pnl=replace(state.pnl, best_mid_since_entry=50_300.0))
    d = target(params(), tracked)
    assert d.target == 0 and d.rationale.startswith("trailing stop")
