"""mean_reversion: size against the z-score of the mid versus its moving average."""

from __future__ import annotations

import math
import statistics
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.core.policies.mean_reversion import Params, target, zscore

from .support import check, make_state, prices, specs, states

D = Decimal
MIDS = (100.0, 102.0, 98.0, 100.0)


def params(**kw) -> Params:
    fields = dict(window=4, size_per_z="0.2", max_position="1")
    fields.update(kw)
    return Params(**fields)


def test_z_by_hand() -> None:
    logs = [math.log(m) for m in MIDS]
    expected = (math.log(101.0) - statistics.fmean(logs)) / statistics.stdev(logs)
    z, average, _ = zscore(101.0, MIDS, 1.0)
    # the price z-score is 1 / sd(100, 102, 98, 100) = 0.612; in log terms 0.615
    assert z == pytest.approx(expected) and z == pytest.approx(0.6154, abs=1e-4)
    assert average == pytest.approx(99.99, abs=0.01)


def test_sells_above_the_average_and_buys_below() -> None:
    above = target(params(), make_state(101.0, mids=MIDS))
    assert above.target == D("-0.123")  # −0.2 × 0.6154, truncated to the lot
    below = target(params(), make_state(99.0, mids=MIDS))
    assert below.target > 0 and below.inputs["z"] < 0


def test_dead_band_cap_and_direction() -> None:
    assert target(params(dead_band_z=1.0), make_state(101.0, mids=MIDS)).target == 0
    assert target(params(), make_state(150.0, mids=MIDS)).target == D("-1")
    assert target(params(direction="long"), make_state(101.0, mids=MIDS)).target == 0
    assert target(params(direction="short"), make_state(99.0, mids=MIDS)).target == 0


def test_flat_history_uses_the_sd_floor() -> None:
    # sd 0 floored at 1 bp; the mid 1 bp (in log terms) above: z = 1 → 0.2 against
    mid = 100.0 * math.exp(1e-4)
    d = target(params(), make_state(mid, mids=(100.0,) * 4))
    assert d.inputs["z"] == pytest.approx(1.0) and d.inputs["sd_bps"] == pytest.approx(1.0)
    assert d.target == D("-0.2")


def test_window_uses_the_latest_samples_and_needs_them() -> None:
    assert target(params(), make_state(101.0, mids=MIDS[1:])) is None
    d = target(params(), make_state(101.0, mids=(500.0,) + MIDS))
    assert d.inputs["moving_average"] == pytest.approx(99.99, abs=0.01)
    assert target(params(), make_state(None, mids=MIDS)).inputs["mid"] == 100.0  # last sample


def test_validation() -> None:
    for bad in ({"window": 2}, {"size_per_z": "0"}, {"dead_band_z": -1}, {"min_sd_bps": 0}, {"direction": "up"}):
        with pytest.raises(ValidationError):
            params(**bad)


@settings(deadline=None, max_examples=300)
@given(states(min_mids=0))
def test_invariants(state) -> None:
    for p in (params(), params(window=20, dead_band_z=0.5, size_per_z="3", max_position="7.5", direction="long")):
        t = check(target(p, state), state.spec, p.max_position)
        if t is not None:
            assert t * D(repr(target(p, state).inputs["z"])) <= 0  # always against the deviation


@settings(deadline=None, max_examples=200)
@given(specs, st.lists(prices, min_size=5, max_size=30).map(tuple), prices, prices,
       st.sampled_from([D("0.5"), D("3"), D("1e6")]), st.floats(0, 2))
def test_larger_deviation_never_smaller_position(spec, mids, mid_a, mid_b, cap, band) -> None:
    p = params(window=5, max_position=cap, dead_band_z=band)
    a, b = target(p, make_state(mid_a, spec=spec, mids=mids)), target(p, make_state(mid_b, spec=spec, mids=mids))
    if abs(a.inputs["z"]) <= abs(b.inputs["z"]):
        assert abs(a.target) <= abs(b.target)
    else:
        assert abs(a.target) >= abs(b.target)


def test_rebalance_band() -> None:
    assert target(params(), make_state(101.0, mids=MIDS, target="-0.12")).target == D("-0.12")
    assert target(params(rebalance_band=0), make_state(101.0, mids=MIDS, target="-0.12")).target == D("-0.123")
