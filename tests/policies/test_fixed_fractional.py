"""fixed_fractional: equity × risk fraction / stop distance."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.core.policies.fixed_fractional import Params, target

from .support import INVERSE, check, make_state, prices, specs, states

D = Decimal


def params(**kw) -> Params:
    fields = dict(risk_fraction=0.01, capital_usd=100_000, stop_bps=100, max_position="10")
    fields.update(kw)
    return Params(**fields)


def test_linear_by_hand() -> None:
    # 1 000 USD at risk over a 500 USD stop (1 % of 50 000) = 2 BTC
    d = target(params(), make_state(50_000.0))
    assert d.target == D("2") and d.inputs["risk_usd"] == 1000 and d.inputs["distance"] == 500


def test_short_stop_is_above() -> None:
    d = target(params(direction="short"), make_state(50_000.0))
    assert d.target == D("-2") and d.inputs["stop"] == 50_500


def test_inverse_loses_the_same_usd_at_the_stop() -> None:
    d = target(params(max_position="100000"), make_state(50_000.0, spec=INVERSE))
    assert d.target == D("1000")  # 2 coins × 50 000 / 100 USD per contract
    n, cs, e, s = 1000, 100, 50_000, 49_500
    assert n * cs * (1 / e - 1 / s) * s == pytest.approx(-1000)


def test_account_equity_wins_over_capital() -> None:
    assert target(params(), make_state(50_000.0, equity=50_000)).target == D("1")
    assert target(params(), make_state(50_000.0, equity=-5.0)).target == 0
    assert target(params(capital_usd=None), make_state(50_000.0)) is None


def test_absolute_stop_price_and_wrong_side() -> None:
    assert target(params(stop_bps=None, stop_price=49_000), make_state(50_000.0)).target == D("1")
    d = target(params(stop_bps=None, stop_price=50_100), make_state(50_000.0))
    assert d.target == 0 and "stop" in d.rationale


def test_stop_distance_floor() -> None:
    # 0.01 USD stop is floored at 1 bp = 5 USD: 1 000 / 5 = 200 coins, capped at 10
    d = target(params(stop_bps=None, stop_price=49_999.99, max_position="1000"), make_state(50_000.0))
    assert d.target == D("200") and d.inputs["distance"] == 5


def test_avg_entry_price_as_entry() -> None:
    # entry 49 000, stop 48 510: 1 000 / 490 = 2.0408 → 2.040
    d = target(params(entry="avg_entry"), make_state(50_000.0, avg_entry=49_000.0, position="1"))
    assert d.target == D("2.040")
    assert target(params(entry="avg_entry"), make_state(50_000.0)).target == D("2")  # flat: the mid


def test_atr_stop_by_hand() -> None:
    # bars [100, 102, 101] and [101, 99, 100]: true ranges 2 and 2, ATR 2; stop 3 ATR = 6 USD
    p = params(stop_bps=None, stop_atr=3, atr_bar_samples=2, atr_bars=2, capital_usd=600)
    mids = (100.0, 102.0, 101.0, 99.0, 100.0)
    d = target(p, make_state(100.0, mids=mids))
    assert d.inputs["atr"] == 2 and d.target == D("1")
    assert target(p, make_state(100.0, mids=mids[1:])) is None


def test_validation() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        params(stop_price=49_000)
    with pytest.raises(ValidationError, match="exactly one"):
        params(stop_bps=None)
    with pytest.raises(ValidationError):
        params(risk_fraction=0)
    with pytest.raises(ValidationError):
        params(risk_fraction=1.5)


@settings(deadline=None, max_examples=300)
@given(states())
def test_invariants(state) -> None:
    for p in (params(), params(direction="short", entry="avg_entry", max_position="7.5"),
              params(stop_bps=None, stop_atr=2, atr_bar_samples=2, atr_bars=3),
              params(stop_bps=None, stop_price=123.0, capital_usd=None)):
        check(target(p, state), state.spec, p.max_position)


@settings(deadline=None, max_examples=200)
@given(specs, prices, st.floats(1e3, 1e9), st.floats(1, 4000))
def test_doubling_the_stop_halves_the_size(spec, mid, capital, stop_bps) -> None:
    state = make_state(mid, spec=spec)
    cap = D("1e12")
    one = target(params(capital_usd=capital, stop_bps=stop_bps, max_position=cap), state).target
    two = target(params(capital_usd=capital, stop_bps=2 * stop_bps, max_position=cap), state).target
    assume(one < cap)
    assert two <= one
    # up to lot truncation (and float rounding, relative 1e-12, for astronomically many lots)
    assert abs(two - one / 2) <= spec.lot_size + abs(one) * D("1e-12")


def test_rebalance_band() -> None:
    assert target(params(), make_state(50_000.0, target="1.9")).target == D("1.9")
    assert target(params(rebalance_band=0.01), make_state(50_000.0, target="1.9")).target == D("2")
