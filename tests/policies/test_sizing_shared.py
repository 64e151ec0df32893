"""The helpers shared by the sizing policies: lot snapping, windows by time, ATR, equity, band."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.policies._sizing_inputs import average_true_range, banded, equity_usd, mids_since, safe_div, sized

from .support import COARSE, INVERSE, LINEAR, make_state, specs

D = Decimal


def test_sized_snaps_float_noise_but_never_adds_a_lot() -> None:
    assert sized(LINEAR, 0.6 - 0.4, D("10")) == D("0.2")  # 0.19999999999999998
    assert sized(LINEAR, 0.1999, D("10")) == D("0.199")
    assert sized(COARSE, 0.3 * 3, D("10")) == D("0.9")  # 0.8999999999999999
    assert sized(LINEAR, -0.0004, D("10")) == 0 and not sized(LINEAR, -0.0004, D("10")).is_signed()
    assert sized(LINEAR, math.inf, D("2.5")) == D("2.5") and sized(LINEAR, -math.inf, D("2.5")) == D("-2.5")
    assert sized(LINEAR, math.nan, D("2.5")) == 0
    assert sized(INVERSE, 1e300, D("7.5")) == D("7")


@settings(deadline=None, max_examples=300)
@given(specs, st.floats(-1e12, 1e12), st.sampled_from([D("1"), D("2.5"), D("1e15")]))
def test_sized_is_truncation_up_to_noise(spec, x, cap) -> None:
    t = sized(spec, x, cap)
    assert abs(t) <= cap and t % spec.lot_size == 0
    exact = max(-cap, min(cap, D(repr(x))))
    assert abs(t) <= abs(exact) + spec.lot_size * D("1e-6") + abs(exact) * D("1e-12")
    assert abs(exact) - abs(t) < spec.lot_size + abs(exact) * D("1e-12")


def test_mids_since_counts_samples_back_from_now() -> None:
    state = make_state(7.0, mids=(1.0, 2.0, 3.0, 4.0, 5.0), now=100.0, interval=2.0)
    assert mids_since(state, 100.0) == (5.0, 7.0)
    assert mids_since(state, 96.0) == (3.0, 4.0, 5.0, 7.0)
    assert mids_since(state, 95.0) == (3.0, 4.0, 5.0, 7.0)
    assert mids_since(state, 0.0) == (1.0, 2.0, 3.0, 4.0, 5.0, 7.0)
    assert mids_since(make_state(None, mids=()), 0.0) == ()


def test_atr() -> None:
    assert average_true_range((1.0, 3.0, 2.0), 1, 2) == pytest.approx(1.5)
    assert average_true_range((1.0, 3.0), 1, 2) is None


def test_equity_and_safe_div() -> None:
    assert equity_usd(make_state(), 5.0) == 5.0
    assert equity_usd(make_state(equity=7.0), 5.0) == 7.0
    assert equity_usd(make_state(equity=-7.0), 5.0) == 0.0
    assert equity_usd(make_state(), None) is None
    assert safe_div(1.0, 0.0) == math.inf and safe_div(-1.0, 0.0) == -math.inf and safe_div(0.0, 0.0) == 0.0


def test_band_keeps_the_current_target() -> None:
    state = make_state(target="1.000")
    assert banded(state, D("1.05"), 0.1, D("2"), "why", {}).target == D("1.000")
    assert banded(state, D("1.2"), 0.1, D("2"), "why", {}).target == D("1.2")
    assert banded(state, D("1.05"), 0.0, D("2"), "why", {}).target == D("1.05")
    assert banded(make_state(target="0"), D("0.001"), 0.1, D("2"), "why", {}).target == D("0.001")
    assert banded(make_state(target="3"), D("2"), 0.5, D("2"), "why", {}).target == D("2")  # above the cap
