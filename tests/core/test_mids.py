"""The engine's mid series: views behave as immutable tuples of the latest mids, and the
incremental EWMA variance agrees with the batch one over the same mids."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.mids import MidSeries, ewma_horizon, ewma_variance

mid = st.one_of(st.floats(1.0, 1e6), st.sampled_from([0.0, -1.0, math.nan, math.inf]))


def _filled(mids: list[float], maxlen: int) -> MidSeries:
    series = MidSeries(maxlen)
    for m in mids:
        series.append(m)
    return series


@given(st.lists(st.floats(1.0, 1e6), max_size=40), st.integers(1, 8), st.integers(0, 40))
def test_a_view_is_the_latest_mids_and_never_changes(mids: list[float], maxlen: int, more: int) -> None:
    series = _filled(mids, maxlen)
    view = series.view()
    expected = tuple(mids[-maxlen:]) if mids else ()
    for m in range(more):  # appends (and the compactions they cause) leave the view alone
        series.append(float(m + 1))
    assert view == expected and tuple(view) == expected and len(view) == len(expected)
    assert list(reversed(view)) == list(reversed(expected))
    assert view[-3:] == expected[-3:] and view[::2] == expected[::2]
    for i in range(-len(expected), len(expected)):
        assert view[i] == expected[i]
    with pytest.raises(IndexError):
        view[len(expected)]


def test_a_view_is_made_once_per_sample() -> None:
    series = _filled([1.0, 2.0], 4)
    assert series.view() is series.view()
    first = series.view()
    series.append(3.0)
    assert series.view() is not first and series.view() == (1.0, 2.0, 3.0)


@settings(max_examples=200)
@given(st.lists(mid, min_size=0, max_size=120), st.lists(st.integers(1, 15), max_size=12),
       st.sampled_from([0.5, 0.94, 0.97]), st.integers(1, 3))
def test_incremental_ewma_agrees_with_the_batch_estimate(mids: list[float], asks: list[int], lam: float,
                                                         step: int) -> None:
    """Estimates asked after every few new samples (as an engine deciding now and then) equal a
    batch estimate over the same mids, to within the EWMA's negligible weight."""
    series = MidSeries(64)
    pos = 0
    for gap in asks + [len(mids)]:
        for m in mids[pos:pos + gap]:
            series.append(m)
        pos += gap
        view = series.view()
        got, want = ewma_variance(view, lam, step), ewma_variance(tuple(view), lam, step)
        if want is None:
            assert got is None
            continue
        assert got is not None and got[1] == want[1]
        assert got[0] == pytest.approx(want[0], rel=1e-9, abs=1e-300)


def test_the_batch_estimate_reads_only_returns_with_weight() -> None:
    lam = 0.5
    horizon = ewma_horizon(lam)
    assert lam ** (horizon - 1) < 1e-12 <= lam ** (horizon - 2)
    huge_then_calm = [1.0, 1e3] + [1.0] * (horizon + 1)  # the jump is beyond the horizon
    var, n = ewma_variance(tuple(huge_then_calm), lam)
    assert n == horizon and var == 0.0


def test_an_older_view_still_gets_its_own_estimate() -> None:
    series = _filled([100.0, 101.0, 100.0, 102.0], 16)
    old = series.view()
    series.append(150.0)
    new = series.view()
    assert ewma_variance(new, 0.94) == pytest.approx(ewma_variance(tuple(new), 0.94))
    assert ewma_variance(old, 0.94) == pytest.approx(ewma_variance(tuple(old), 0.94))
    assert ewma_variance(new, 0.94) == pytest.approx(ewma_variance(tuple(new), 0.94))


def test_a_view_shorter_than_the_horizon_is_estimated_from_its_own_mids() -> None:
    """Once the series drops mids and the view no longer reaches back over the horizon, the
    estimate is the batch one over the view (what the policy sees), not the series' older past."""
    series = MidSeries(8)
    for m in [100.0, 200.0, 100.0, 200.0] + [100.0 + i for i in range(20)]:
        series.append(m)
        view = series.view()
        assert ewma_variance(view, 0.94) == pytest.approx(ewma_variance(tuple(view), 0.94))
