"""Book views (totals, buckets, dollar Greeks, scenarios) and the incremental cache."""

import numpy as np
import pytest

from bot.core.greeks import (
    BookGreeks,
    Greeks,
    black76,
    dollar_greeks,
    expiry_buckets,
    scenario_grid,
    total,
    totals_by,
)


def _book():
    under = np.array(["BTC", "BTC", "ETH", "BTC"])
    f = np.array([60000.0, 60000.0, 3000.0, 61000.0])
    k = np.array([65000.0, 55000.0, 3200.0, 70000.0])
    t = np.array([2 / 365, 20 / 365, 20 / 365, 200 / 365])
    v = np.array([0.5, 0.55, 0.7, 0.6])
    call = np.array([True, False, True, True])
    qty = np.array([2.0, -1.0, 10.0, 0.5])
    return under, f, k, t, v, call, qty


def test_totals_by_underlying_bucket_and_overall():
    under, f, k, t, v, call, qty = _book()
    pos = black76(f, k, t, v, 0.0, call).scaled(qty)
    by_under = totals_by(under, pos)
    assert set(by_under) == {"BTC", "ETH"}
    assert by_under["ETH"].delta == pytest.approx(pos.delta[2])
    assert by_under["BTC"].vega == pytest.approx(pos.vega[[0, 1, 3]].sum())
    buckets = expiry_buckets(t)
    assert buckets.tolist() == ["<=1w", "<=30d", "<=30d", "<=1y"]
    by_bucket = totals_by(buckets, pos)
    assert by_bucket["<=30d"].gamma == pytest.approx(pos.gamma[1] + pos.gamma[2])
    overall = total(pos)
    assert overall.theta == pytest.approx(pos.theta.sum())
    assert sum(g.delta for g in by_under.values()) == pytest.approx(overall.delta)


def test_dollar_greeks():
    g = black76(60000.0, 60000.0, 0.1, 0.5, 0.0, True).scaled(2.0)
    d = dollar_greeks(g, 60000.0)
    assert d.delta == pytest.approx(g.delta * 600.0)
    assert d.gamma == pytest.approx(g.gamma * 600.0**2)
    assert d.vega == pytest.approx(g.vega / 100) and d.theta == pytest.approx(g.theta / 365)
    # a 1 % move: P&L ~ dollar delta + 1/2 dollar gamma (full revaluation agrees to third order)
    up = black76(60600.0, 60000.0, 0.1, 0.5, 0.0, True).price * 2 - g.price
    assert up == pytest.approx(d.delta + 0.5 * d.gamma, rel=1e-3)


def test_scenario_grid_full_revaluation():
    under, f, k, t, v, call, qty = _book()
    grid = scenario_grid(f, k, t, v, 0.0, 0.0, call, qty, spot_shifts=[-0.01, 0.0, 0.01], vol_shifts=[-1, 0, 1])
    assert grid.pnl.shape == (3, 3)
    assert grid.pnl[1, 1] == 0.0
    pos = black76(f, k, t, v, 0.0, call).scaled(qty)
    # small moves: first order Greeks
    assert grid.pnl[1, 2] == pytest.approx(pos.vega.sum() * 0.01, rel=2e-2)
    assert (grid.pnl[2, 1] - grid.pnl[0, 1]) / 2 == pytest.approx((pos.delta * f * 0.01).sum(), rel=1e-2)
    # a delta hedge flattens the spot direction to first order
    hedge = -pos.delta
    hedged = scenario_grid(f, k, t, v, 0.0, 0.0, call, qty, [-0.001, 0.001], [0.0], linear_quantity=hedge)
    assert abs(hedged.pnl[1, 0] - hedged.pnl[0, 0]) < 1e-3 * abs(grid.pnl[2, 1] - grid.pnl[0, 1])


def test_book_cache_revalues_only_changed_rows():
    book = BookGreeks()
    keys = ["C1", "P1", "C2"]
    revalued = book.update(keys, [100.0, 100.0, 100.0], [90.0, 110.0, 120.0], 0.5, [0.5, 0.6, 0.7], 0.0, 0.0,
                           [True, False, True])
    assert revalued == keys
    assert book.update(keys, 100.0, [90.0, 110.0, 120.0], 0.5, [0.5, 0.6, 0.7], 0.0, 0.0, [True, False, True]) == []
    # only the vol of P1 moved
    assert book.update(["P1"], 100.0, 110.0, 0.5, 0.65, 0.0, 0.0, False) == ["P1"]
    g = book.greeks()
    expected = black76(100.0, [90.0, 110.0, 120.0], 0.5, [0.5, 0.65, 0.7], 0.0, [True, False, True])
    for field in Greeks._fields:
        np.testing.assert_allclose(getattr(g, field), getattr(expected, field), rtol=1e-14)
    assert book.update(["C3"], 100.0, 100.0, 0.1, 0.4) == ["C3"] and len(book) == 4
    book.remove(["C1"])
    assert book.keys == ["P1", "C2", "C3"]
    assert book.greeks(["C2"]).price[0] == pytest.approx(expected.price[2])
