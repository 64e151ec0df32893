"""Realised-vol estimators (``_vol``) and ``volatility_target``: by hand and as invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from bot.core.policies import PolicyConfig, compute_target, volatility_target
from bot.core.policies._vol import estimate, ewma_vol, log_returns, window_vol

from .support import ALTERNATING, INTERVAL, INVERSE, LINEAR, D, all_finite, mids_from_returns, on_grid, spec, state


def params(**overrides) -> volatility_target.Params:
    fields = dict(target_vol=0.2, capital_usd=1_000_000, max_position=D("100000"), min_samples=5, vol_floor=0.01,
                  rebalance_band=0.0)
    fields.update(overrides)
    return volatility_target.Params(**fields)


# -- estimators by hand ---------------------------------------------------------------------------

def test_ewma_recursion_by_hand() -> None:
    # λ = 0.5; r = 1 %, 2 %, −2 %: var 1e-4 → 2.5e-4 → 3.25e-4
    assert ewma_vol(mids_from_returns([0.01, 0.02, -0.02]), 0.5, INTERVAL) == pytest.approx(
        math.sqrt(3.25e-4) * 100, rel=1e-9)


def test_window_is_rms_of_the_last_returns() -> None:
    mids = mids_from_returns([0.5, 0.03, -0.04, 0.0])  # window 3 ignores the 50 % return
    assert window_vol(mids, 3, INTERVAL) == pytest.approx(math.sqrt((9e-4 + 16e-4) / 3) * 100, rel=1e-9)
    assert window_vol(mids, 5, INTERVAL) is None


def test_return_interval_resamples_from_the_latest_mid() -> None:
    mids = (1.0, 2.0, 4.0, 8.0, 16.0)
    assert log_returns(mids, 2) == pytest.approx([math.log(4), math.log(4)])
    assert log_returns(mids[1:], 2) == pytest.approx([math.log(4)])  # 4 → 16: aligned to the latest mid
    p = params(estimator="window", window=2, return_interval_s=2 * INTERVAL, min_samples=3)
    est = estimate(p, mids, INTERVAL)
    # per-return vol ln 4 over 2 intervals → annualised ln 4 × √(10 000 / 2)
    assert est.realised == pytest.approx(math.log(4) * math.sqrt(5000), rel=1e-9)
    assert est.return_interval_s == pytest.approx(2 * INTERVAL)


def test_log_returns_skip_bad_mids_and_never_overflow() -> None:
    assert log_returns((1.0, 0.0, 2.0, 4.0)) == pytest.approx([math.log(2)])
    assert all(math.isfinite(r) for r in log_returns((1e300, 1e-300, 1e300)))


def test_estimate_needs_min_samples_and_a_full_window() -> None:
    assert estimate(params(min_samples=5), ALTERNATING[:4], INTERVAL) is None
    assert estimate(params(min_samples=5), ALTERNATING[:5], INTERVAL) is not None
    p = params(estimator="window", window=10, min_samples=3)
    assert estimate(p, ALTERNATING[:10], INTERVAL) is None
    assert estimate(p, ALTERNATING[:11], INTERVAL) is not None
    assert estimate(params(), ALTERNATING, 0.0) is None


def test_floor_and_cap_bound_the_vol_used() -> None:
    assert estimate(params(vol_floor=0.8), ALTERNATING, INTERVAL).used == pytest.approx(0.8)
    assert estimate(params(vol_cap=0.3), ALTERNATING, INTERVAL).used == pytest.approx(0.3)
    with pytest.raises(ValidationError, match="vol_cap"):
        params(vol_floor=0.5, vol_cap=0.3)


# -- volatility_target by hand --------------------------------------------------------------------

@pytest.mark.parametrize("estimator", ["ewma", "window"])
@pytest.mark.parametrize("instrument, overrides, expected", [
    (LINEAR, {}, D("10")),  # 20 % / 40 % × 1 000 000 USD / 50 000 = 10 BTC
    (spec(contract_size=D("0.01"), lot_size=D("1")), {}, D("1000")),
    (INVERSE, {}, D("5000")),  # 500 000 USD / 100 USD per contract
    (LINEAR, {"direction": "short"}, D("-10")),
    (LINEAR, {"max_position": D("3.2567")}, D("3.256")),  # cap off the grid, truncated onto it
    (LINEAR, {"vol_floor": 0.8}, D("5")),
    (LINEAR, {"vol_cap": 0.2}, D("20")),
])
def test_target_by_hand(estimator, instrument, overrides, expected) -> None:
    decision = compute_target(params(estimator=estimator, window=20, **overrides), state(instrument=instrument))
    assert abs(decision.target - expected) <= instrument.lot_size and on_grid(decision.target, instrument)
    assert decision.inputs["realised_vol"] == pytest.approx(0.4, rel=1e-6)


def test_holds_without_data_or_a_two_sided_book() -> None:
    assert compute_target(params(), state(ALTERNATING[:4])) is None
    assert compute_target(params(), state(mid=None)) is None


@pytest.mark.parametrize("previous, kept", [(D("9.5"), True), (D("11"), True), (D("9"), False), (D("0"), False),
                                            (None, False)])
def test_rebalance_band(previous, kept) -> None:
    decision = compute_target(params(rebalance_band=0.1), state(target=previous))
    assert (decision.target == previous) == kept
    if not kept:
        assert abs(decision.target - 10) <= LINEAR.lot_size


def test_band_never_keeps_a_target_beyond_the_cap() -> None:
    decision = compute_target(params(max_position=D("9.5"), rebalance_band=0.1), state(target=D("10")))
    assert decision.target == D("9.5")


def test_old_config_keys_still_validate() -> None:
    p = TypeAdapter(PolicyConfig).validate_python({
        "type": "volatility_target", "target_vol": 0.25, "capital_usd": 100000, "direction": "long",
        "ewma_lambda": 0.94, "min_samples": 10, "vol_floor": 0.05, "max_position": "2", "rebalance_band": 0.1})
    assert isinstance(p, volatility_target.Params) and p.estimator == "ewma"


# -- invariants -----------------------------------------------------------------------------------

small_returns = st.lists(st.floats(-0.03, 0.03, allow_nan=False), min_size=25, max_size=60)


@settings(max_examples=100, deadline=None)
@given(rs=small_returns, estimator=st.sampled_from(["ewma", "window"]))
def test_doubling_the_vol_halves_the_target(rs, estimator) -> None:
    p = params(estimator=estimator, window=20, max_position=D("1e9"), vol_floor=1e-6)
    single_est = estimate(p, mids_from_returns(rs), INTERVAL)
    assume(single_est.realised > 1e-3)
    doubled_est = estimate(p, mids_from_returns([2 * r for r in rs]), INTERVAL)
    assert doubled_est.realised == pytest.approx(2 * single_est.realised, rel=1e-6)
    single = compute_target(p, state(mids_from_returns(rs)))
    double = compute_target(p, state(mids_from_returns([2 * r for r in rs])))
    assert abs(2 * double.target - single.target) <= 2 * LINEAR.lot_size
    assert abs(double.target) <= abs(single.target)


prices = st.floats(1e-6, 1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(mids=st.lists(prices, min_size=0, max_size=40), mid=prices, inverse=st.booleans(),
       estimator=st.sampled_from(["ewma", "window"]), direction=st.sampled_from(["long", "short"]),
       previous=st.none() | st.decimals(-1000, 1000, places=3), interval=st.floats(1e-6, 1e9))
def test_any_finite_input_gives_a_capped_grid_target_or_none(mids, mid, inverse, estimator, direction, previous,
                                                             interval) -> None:
    instrument = INVERSE if inverse else LINEAR
    p = params(estimator=estimator, window=5, direction=direction, max_position=D("500"), rebalance_band=0.1)
    decision = compute_target(p, state(mids, instrument=instrument, mid=mid, target=previous, interval=interval))
    if len(mids) < (5 if estimator == "ewma" else 6):  # min_samples 5; a window of 5 returns needs 6 mids
        assert decision is None
        return
    if decision is None:
        return
    assert decision.target.is_finite() and abs(decision.target) <= D("500")
    assert on_grid(decision.target, instrument) or decision.target == previous
    assert all_finite(decision.inputs)
