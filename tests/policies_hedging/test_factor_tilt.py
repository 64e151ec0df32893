"""``factor_tilt``: a nested base policy's target × bounded factor multipliers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from bot.core.policies import PolicyConfig, compute_target, factor_tilt, volatility_target
from bot.core.types import GreeksView, MarketFactors

from .support import INVERSE, LINEAR, D, all_finite, on_grid, state

ADAPTER = TypeAdapter(PolicyConfig)
VOL_BASE = {"type": "volatility_target", "target_vol": 0.2, "capital_usd": 1_000_000, "max_position": "100",
            "min_samples": 5, "vol_floor": 0.01, "rebalance_band": 0.0}  # 10 BTC on support.state()


def params(base: dict | None = None, **overrides) -> factor_tilt.Params:
    fields = dict(type="factor_tilt", base=base or VOL_BASE, max_position="100")
    fields.update(overrides)
    return ADAPTER.validate_python(fields)


def test_base_is_parsed_lazily_into_its_own_params() -> None:
    p = params(funding={"k": -2})
    assert isinstance(p, factor_tilt.Params) and isinstance(p.base_params, volatility_target.Params)
    nested = params(base={"type": "factor_tilt", "base": VOL_BASE, "max_position": "5"})
    assert isinstance(nested.base_params, factor_tilt.Params)


@pytest.mark.parametrize("base, message", [
    ({**VOL_BASE, "target_vol": -0.2}, "base.target_vol: must be greater than 0 (got -0.2)"),
    ({**VOL_BASE, "min_sample": 5}, "base.min_sample: unknown key"),
    ({"type": "volatility_target", "capital_usd": 1}, "base.target_vol: required key is missing"),
    ({"type": "kelly_criterion_9000"}, "base.type: unknown policy type (got 'kelly_criterion_9000'"),
    ({"target_vol": 0.2}, "base.type: required key is missing"),
    ({"type": "factor_tilt", "base": {**VOL_BASE, "window": 1}, "max_position": "1"},
     "base.base.window: must be greater than or equal to 2"),
])
def test_a_bad_base_names_the_nested_key(base, message) -> None:
    with pytest.raises(ValidationError) as info:
        params(base=base)
    errors = info.value.errors()
    assert errors[0]["loc"][-1] == "base" and message in errors[0]["msg"], errors


def test_multipliers_by_hand() -> None:
    # funding 1 bp / 8 h = 10.95 %/yr → 1 − 2 × 0.1095 = 0.781; basis 0.2 % → 1 − 50 × 0.002 = 0.9
    p = params(funding={"k": -2, "lo": 0.5, "hi": 1.2}, basis={"k": -50, "lo": 0.5, "hi": 1.5},
               liquidations={"k": 1}, open_interest={"k": 1})
    decision = compute_target(p, state(factors=MarketFactors(funding_rate=0.0001, basis=0.002)))
    assert decision.inputs["funding_factor"] == pytest.approx(0.1095)
    assert decision.inputs["funding_mult"] == pytest.approx(0.781)
    assert decision.inputs["basis_mult"] == pytest.approx(0.9)
    assert decision.inputs["liquidations_mult"] == decision.inputs["open_interest_mult"] == 1.0  # None: neutral
    assert decision.inputs["multiplier"] == pytest.approx(0.7029)
    assert abs(decision.target - D("7.029")) <= LINEAR.lot_size and on_grid(decision.target)
    assert decision.inputs["base_target"] == 10.0 and "base_realised_vol" in decision.inputs


@pytest.mark.parametrize("factors, expected", [
    (MarketFactors(funding_rate=0.01, funding_interval_h=1), D("5")),  # 87.6 /yr × −2 → clipped at lo 0.5
    (MarketFactors(funding_rate=-0.01), D("12")),  # clipped at hi 1.2
    (MarketFactors(funding_rate=0.00001, funding_interval_h=1), D("8.248")),  # 8.76 %/yr → 1 − 0.1752
    (MarketFactors(funding_rate=0.01, funding_interval_h=0), D("10")),  # no usable interval: neutral
])
def test_bounds(factors, expected) -> None:
    p = params(funding={"k": -2, "lo": 0.5, "hi": 1.2})
    assert abs(compute_target(p, state(factors=factors)).target - expected) <= LINEAR.lot_size


def test_cap_and_base_hold() -> None:
    p = params(funding={"k": 10, "hi": 3}, max_position="12")
    assert compute_target(p, state(factors=MarketFactors(funding_rate=0.001))).target == D("12")
    assert compute_target(params(funding={"k": 1}), state(())) is None  # base holds


def test_a_holding_base_does_not_compound_the_tilt() -> None:
    base = {**VOL_BASE, "rebalance_band": 0.1}
    p = params(base=base, funding={"k": -0.5})  # 10.95 %/yr → ×0.945
    factors = MarketFactors(funding_rate=0.0001)
    target = None
    seen = []
    for _ in range(5):
        target = compute_target(p, state(factors=factors, target=target)).target
        seen.append(target)
    assert seen == [seen[0]] * 5 and abs(seen[0] - D("9.452")) <= LINEAR.lot_size


def test_tilting_a_hedge_that_holds() -> None:
    base = {"type": "delta_neutral", "band_coin": 0.1, "max_position": "10"}
    p = params(base=base, basis={"k": -50})
    factors = MarketFactors(basis=0.002)
    greeks = GreeksView(delta_coin=-1.0)
    first = compute_target(p, state(factors=factors, greeks=greeks)).target  # base 0.9 (edge) × 0.9
    assert first == D("0.81")
    assert compute_target(p, state(factors=factors, greeks=greeks, target=first)).target == first


# -- invariants -----------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
maybe = st.none() | finite


@settings(max_examples=100, deadline=None)
@given(funding=maybe, interval=finite, oi=maybe, basis=maybe, liq=maybe, k=finite, inverse=st.booleans(),
       held=st.none() | st.decimals(-200, 200, places=3))
def test_any_finite_factors_give_a_capped_grid_target(funding, interval, oi, basis, liq, k, inverse, held) -> None:
    instrument = INVERSE if inverse else LINEAR
    tilt = {"k": k, "lo": 0.25, "hi": 4}
    p = params(funding=tilt, open_interest=tilt, basis=tilt, liquidations=tilt, max_position="150")
    factors = MarketFactors(funding_rate=funding, funding_interval_h=interval, open_interest_change=oi, basis=basis,
                            liquidations_usd=liq)
    decision = compute_target(p, state(instrument=instrument, factors=factors, target=held))
    assert abs(decision.target) <= D("150") and all_finite(decision.inputs)
    assert on_grid(decision.target, instrument) or decision.target == held
    assert 0.25 ** 4 <= decision.inputs["multiplier"] <= 4 ** 4


@settings(max_examples=100, deadline=None)
@given(x1=st.floats(-1, 1), x2=st.floats(-1, 1), k=st.floats(0, 10))
def test_with_positive_k_a_larger_factor_never_shrinks_the_target(x1, x2, k) -> None:
    lo, hi = sorted((x1, x2))
    p = params(basis={"k": k, "lo": 0.1, "hi": 3})
    small = compute_target(p, state(factors=MarketFactors(basis=lo))).target
    large = compute_target(p, state(factors=MarketFactors(basis=hi))).target
    assert large >= small
