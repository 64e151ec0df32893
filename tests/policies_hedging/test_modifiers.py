"""Policy modifiers: drawdown scaling and caps, applied in order, on the lot grid."""

from __future__ import annotations


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from bot.core.modifiers import Cap, DrawdownScale, ModifierConfig, apply_modifiers, drawdown
from bot.core.policies.base import TargetDecision
from bot.core.types import AccountView

from .support import INVERSE, LINEAR, D, all_finite, on_grid, state

MODS = TypeAdapter(list[ModifierConfig])


def account(equity: float, peak: float = 100_000.0) -> AccountView:
    return AccountView(equity_usd=equity, peak_equity_usd=peak, day_start_equity_usd=peak)


def decision(target: str = "10") -> TargetDecision:
    return TargetDecision(D(target), "policy says so", inputs={"mid": 50_000.0})


def test_parsed_from_config_by_type() -> None:
    mods = MODS.validate_python([{"type": "drawdown_scale", "start": 0.05, "stop": 0.2},
                                 {"type": "cap", "max_long": "3"}])
    assert isinstance(mods[0], DrawdownScale) and isinstance(mods[1], Cap)
    for bad, match in [([{"type": "drawdown_scale", "start": 0.3, "stop": 0.2}], "start"),
                       ([{"type": "cap"}], "at least one"), ([{"type": "nope"}], "nope"),
                       ([{"type": "cap", "max_long": "1", "typo": 1}], "typo")]:
        with pytest.raises(ValidationError, match=match):
            MODS.validate_python(bad)


@pytest.mark.parametrize("equity, expected, scale", [
    (100_000, D("10"), 1.0), (96_000, D("10"), 1.0),  # 4 % ≤ start 5 %
    (90_000, D("6.666"), 2 / 3),  # 10 %: 1 − (0.05 / 0.15)
    (80_000, D("0"), 0.0), (-5_000, D("0"), 0.0),  # at / beyond stop
    (120_000, D("10"), 1.0),  # above the peak (a stale peak): no drawdown
])
def test_drawdown_scale_by_hand(equity, expected, scale) -> None:
    out = apply_modifiers([DrawdownScale(start=0.05, stop=0.2)], state(account=account(equity)), decision())
    assert out.target == expected and out.inputs["drawdown_scale"] == pytest.approx(scale)
    assert out.rationale.startswith("policy says so; drawdown")
    assert out.inputs["pre_modifier_target"] == 10.0 and out.inputs["mid"] == 50_000.0


def test_min_scale_and_a_short_target() -> None:
    mod = DrawdownScale(start=0.0, stop=0.5, min_scale=0.2)
    assert apply_modifiers([mod], state(account=account(50_000)), decision("-10")).target == D("-2")
    assert apply_modifiers([mod], state(account=account(75_000)), decision("-10")).target == D("-6")


def test_without_an_account_the_drawdown_scale_is_neutral() -> None:
    out = apply_modifiers([DrawdownScale()], state(), decision())
    assert out.target == D("10") and "unknown" in out.rationale
    assert drawdown(state(account=account(1.0, peak=0.0))) is None


@pytest.mark.parametrize("cap, target, expected", [
    (Cap(max_long=D("3")), "10", D("3")), (Cap(max_long=D("3")), "-10", D("-10")),
    (Cap(max_short=D("2")), "-5", D("-2")), (Cap(max_short=D("0")), "-5", D("0")),
    (Cap(max_notional_usd=100_000), "-10", D("-2")),  # 2 BTC at 50 000
    (Cap(max_long=D("3.14159")), "10", D("3.141")),  # off the grid: truncated onto it
    (Cap(max_long=D("30")), "10", D("10")),
])
def test_cap_by_hand(cap, target, expected) -> None:
    assert apply_modifiers([cap], state(), decision(target)).target == expected


def test_notional_cap_on_an_inverse_contract_and_without_a_price() -> None:
    cap = Cap(max_notional_usd=1_000)  # 10 contracts of 100 USD
    assert apply_modifiers([cap], state(instrument=INVERSE), decision("-50")).target == D("-10")
    assert apply_modifiers([cap], state(mid=None), decision("5")).target == D("5")


def test_in_order_with_inputs_and_rationale() -> None:
    mods = MODS.validate_python([{"type": "cap", "max_long": "8"}, {"type": "drawdown_scale", "start": 0, "stop": 0.5},
                                 {"type": "cap", "max_long": "7"}])
    out = apply_modifiers(mods, state(account=account(90_000)), decision())
    assert out.target == D("6.4")  # 8 × (1 − 0.1 / 0.5) = 6.4, then the 7 cap does not bind
    assert out.rationale == "policy says so; capped 10 → 8.000; drawdown 10.0% ×0.8; cap not binding"
    assert apply_modifiers([], state(), decision()) == decision()


# -- invariants -----------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(equity=finite, peak=finite, target=st.decimals(-1000, 1000, places=3), start=st.floats(0, 0.9),
       width=st.floats(0.01, 1), min_scale=st.floats(0, 1), cap=st.decimals(0, 2000, places=5),
       notional=st.floats(1e-3, 1e12), mid=st.none() | st.floats(1e-6, 1e12), inverse=st.booleans())
def test_modifiers_only_shrink_and_keep_the_grid(equity, peak, target, start, width, min_scale, cap, notional, mid,
                                                 inverse) -> None:
    instrument = INVERSE if inverse else LINEAR
    target = (target / instrument.lot_size).to_integral_value() * instrument.lot_size
    mods = [DrawdownScale(start=start, stop=min(1.0, start + width), min_scale=min_scale),
            Cap(max_long=cap, max_short=cap, max_notional_usd=notional)]
    out = apply_modifiers(mods, state(instrument=instrument, mid=mid, account=AccountView(equity, peak, peak)),
                          TargetDecision(target, "x"))
    assert abs(out.target) <= abs(target) and out.target * target >= 0
    assert abs(out.target) <= cap and on_grid(out.target, instrument) and all_finite(out.inputs)


@settings(max_examples=150, deadline=None)
@given(e1=st.floats(0, 2e5), e2=st.floats(0, 2e5), start=st.floats(0, 0.5), width=st.floats(0.01, 0.5),
       min_scale=st.floats(0, 1))
def test_a_larger_drawdown_never_gives_more_exposure(e1, e2, start, width, min_scale) -> None:
    mod = [DrawdownScale(start=start, stop=start + width, min_scale=min_scale)]
    low, high = sorted((e1, e2))  # lower equity = larger drawdown
    deeper = apply_modifiers(mod, state(account=account(low)), decision()).target
    shallower = apply_modifiers(mod, state(account=account(high)), decision()).target
    assert deeper <= shallower
