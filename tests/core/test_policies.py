"""Policies: the schedule and the volatility target, hand-computed and as invariants."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from bot.core.policies import POLICY_TYPES, PolicyConfig, compute_target, target_schedule, volatility_target
from bot.core.policies.volatility_target import SECONDS_PER_YEAR, ewma_vol
from bot.core.types import Book, InstrumentSpec, InstrumentState

from .support import book, spec

D = Decimal
MID = D("50000")
LINEAR = spec(contract_size=D("1"), lot_size=D("0.001"))
INVERSE = spec(contract_size=D("100"), lot_size=D("1"), inverse=True)
# one sample every 1/10 000 of a year: annualised vol = 100 × per-sample vol
INTERVAL = SECONDS_PER_YEAR / 10_000


def mids_from_returns(returns, start: float = 100.0) -> tuple[float, ...]:
    out = [start]
    for r in returns:
        out.append(out[-1] * math.exp(r))
    return tuple(out)


ALTERNATING = mids_from_returns([0.004, -0.004] * 10)  # |r| = 0.4 % per sample: 40 % annualised


def state(mids=(), instrument: InstrumentSpec = LINEAR, bk: Book | None = None, now: float = 0.0,
          started: float = 0.0, target: Decimal | None = None) -> InstrumentState:
    bk = bk if bk is not None else book(bids=((str(MID - 1), "1"),), asks=((str(MID + 1), "1"),))
    return InstrumentState(instrument, now, D(0), bk, tuple(mids), INTERVAL, started, target=target)


def vol_params(**overrides) -> volatility_target.Params:
    fields = dict(target_vol=0.2, capital_usd=1_000_000, max_position=D("100000"), min_samples=5, vol_floor=0.01)
    fields.update(overrides)
    return volatility_target.Params(**fields)


def test_policies_are_discovered_and_chosen_by_type() -> None:
    assert {"target_schedule", "volatility_target"} <= set(POLICY_TYPES)
    params = TypeAdapter(PolicyConfig).validate_python({"type": "volatility_target", "target_vol": 0.5,
                                                        "capital_usd": 1000, "max_position": "1"})
    assert isinstance(params, volatility_target.Params)
    with pytest.raises(ValidationError):
        TypeAdapter(PolicyConfig).validate_python({"type": "volatility_target", "target_vol": 0.5, "typo": 1})


# -- target_schedule ------------------------------------------------------------------------------

SCHEDULE = target_schedule.Params(steps=[{"after_s": 5, "target": "1"}, {"after_s": 10, "target": "2.5"},
                                       {"after_s": 10, "target": "-3"}, {"after_s": 60, "target": "0"}])


@pytest.mark.parametrize("elapsed, expected", [(0, None), (4.99, None), (5, D("1")), (9.9, D("1")),
                                               (10, D("-3")), (59, D("-3")), (1e6, D("0"))])
def test_schedule_picks_last_due_step(elapsed: float, expected: Decimal | None) -> None:
    decision = compute_target(SCHEDULE, state(now=1000 + elapsed, started=1000))
    assert (decision and decision.target) == expected


def test_schedule_must_be_ascending() -> None:
    with pytest.raises(ValidationError):
        target_schedule.Params(steps=[{"after_s": 10, "target": "1"}, {"after_s": 5, "target": "2"}])


# -- volatility_target: hand-computed -------------------------------------------------------------

def test_ewma_recursion_by_hand() -> None:
    # λ = 0.5, returns 1 %, 2 %, -2 %: var = 1e-4 → 0.5·1e-4 + 0.5·4e-4 = 2.5e-4 → 0.5·2.5e-4 + 0.5·4e-4 = 3.25e-4
    vol = ewma_vol(mids_from_returns([0.01, 0.02, -0.02]), 0.5, INTERVAL)
    assert vol == pytest.approx(math.sqrt(3.25e-4) * 100, rel=1e-9)


def test_constant_size_returns_give_that_vol_and_the_target_by_hand() -> None:
    # |r| = 0.4 % every sample → annualised 40 %; 20 % / 40 % × 1 000 000 USD / 50 000 = 10 BTC
    decision = compute_target(vol_params(), state(ALTERNATING))
    assert decision.inputs["realised_vol"] == pytest.approx(0.4, rel=1e-6)
    assert abs(decision.target - D(10)) <= LINEAR.lot_size and decision.target % LINEAR.lot_size == 0


@pytest.mark.parametrize(
    "instrument, overrides, expected",
    [
        (LINEAR, {}, D("10")),
        (spec(contract_size=D("0.01"), lot_size=D("1")), {}, D("1000")),  # 10 BTC in 0.01-BTC contracts
        (INVERSE, {}, D("5000")),  # 10 BTC × 50 000 USD / 100 USD per contract
        (LINEAR, {"direction": "short"}, D("-10")),
        (LINEAR, {"max_position": D("3.2")}, D("3.2")),
        (LINEAR, {"max_position": D("3.2"), "direction": "short"}, D("-3.2")),
        (LINEAR, {"vol_floor": 0.8}, D("5")),  # realised 40 % floored at 80 %
    ],
)
def test_conversion_cap_direction_and_floor(instrument, overrides: dict, expected: Decimal) -> None:
    decision = compute_target(vol_params(**overrides), state(ALTERNATING, instrument))
    assert abs(decision.target - expected) <= instrument.lot_size
    assert decision.target % instrument.lot_size == 0


def test_cap_off_the_lot_grid_is_truncated_onto_it() -> None:
    decision = compute_target(vol_params(max_position=D("3.2567")), state(ALTERNATING))
    assert decision.target == D("3.256")


ONE_SIDED = Book("BTC-PERP", (), (), 0.0)


@pytest.mark.parametrize("n_mids, bk, holds", [(0, None, True), (4, None, True), (5, None, False),
                                               (20, ONE_SIDED, True)])
def test_holds_until_enough_samples_and_a_two_sided_book(n_mids: int, bk: Book | None, holds: bool) -> None:
    mids = mids_from_returns([0.004] * 30)[:n_mids]  # min_samples = 5
    assert (compute_target(vol_params(), state(mids, bk=bk)) is None) == holds


@pytest.mark.parametrize("previous, keep", [(D("9.5"), True), (D("11"), True), (D("9"), False), (D("12"), False),
                                            (D("0"), False), (None, False)])
def test_rebalance_band_keeps_previous_target(previous: Decimal | None, keep: bool) -> None:
    decision = compute_target(vol_params(rebalance_band=0.1), state(ALTERNATING, target=previous))
    if keep:
        assert decision.target == previous
    else:
        assert abs(decision.target - D(10)) <= LINEAR.lot_size


def test_band_never_keeps_a_previous_target_beyond_the_cap() -> None:
    # e.g. max_position lowered from 10 to 9.5 and the old target 10 reloaded from Redis on restart:
    # the capped new target 9.5 is within 10 % of 10, so 10 is kept
    decision = compute_target(vol_params(max_position=D("9.5")),
                              state(ALTERNATING, target=D("10")))
    assert abs(decision.target) <= D("9.5")


# -- volatility_target: invariants ----------------------------------------------------------------

returns = st.lists(st.floats(-0.03, 0.03, allow_nan=False), min_size=4, max_size=40)


@settings(max_examples=200, deadline=None)
@given(rs=returns)
def test_doubling_realised_vol_halves_the_target(rs) -> None:
    params = vol_params(max_position=D("1e9"), vol_floor=1e-6, rebalance_band=0.0)
    assume(ewma_vol(mids_from_returns(rs), params.ewma_lambda, INTERVAL) > 1e-3)
    doubled = [2 * r for r in rs]
    assert ewma_vol(mids_from_returns(doubled), params.ewma_lambda, INTERVAL) == pytest.approx(
        2 * ewma_vol(mids_from_returns(rs), params.ewma_lambda, INTERVAL), rel=1e-6)
    single = compute_target(params, state(mids_from_returns(rs)))
    double = compute_target(params, state(mids_from_returns(doubled)))
    assert abs(2 * double.target - single.target) <= 2 * LINEAR.lot_size


positive_prices = st.floats(1e-6, 1e9, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(mids=st.lists(positive_prices, min_size=5, max_size=40), mid=positive_prices,
       direction=st.sampled_from(["long", "short"]), inverse=st.booleans())
def test_finite_target_on_the_grid_within_the_cap(mids, mid, direction, inverse) -> None:
    instrument = INVERSE if inverse else LINEAR
    bk = book(bids=((repr(mid), "1"),), asks=((repr(mid * 1.001), "1"),))
    decision = compute_target(vol_params(direction=direction), state(mids, instrument, bk, target=D("1")))
    assert decision.target.is_finite() and abs(decision.target) <= D("100000")
    assert decision.target % instrument.lot_size == 0
    assert decision.target * (1 if direction == "long" else -1) >= 0
    assert all(math.isfinite(v) for v in decision.inputs.values())


@pytest.mark.parametrize("mids", [
    pytest.param([1e300, 1e-300, 1.0, 1.0, 1.0], id="ratio-underflows"),
    pytest.param([1e-300, 1e300, 1.0, 1.0, 1.0], id="ratio-overflows"),
])
def test_extreme_but_finite_mids_give_a_finite_decision(mids) -> None:
    decision = compute_target(vol_params(), state(mids))
    assert decision.target.is_finite()
    assert all(math.isfinite(v) for v in decision.inputs.values())
