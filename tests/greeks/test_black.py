"""BSM / Black-76 prices and Greeks: reference values, parity, finite differences, limits."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.greeks import Greeks, black76, black76_price, bsm, bsm_price


def _strict():
    """Every floating-point problem but (silent, correct) underflow is an error."""
    return np.errstate(divide="raise", over="raise", invalid="raise", under="ignore")


def test_hull_textbook_call():
    # Hull, Options Futures and Other Derivatives: S=49, K=50, r=5 %, sigma=20 %, T=20 weeks.
    g = bsm(49.0, 50.0, 20 / 52, 0.20, 0.05)
    assert g.price == pytest.approx(2.4005, abs=5e-5)
    assert g.delta == pytest.approx(0.5216, abs=5e-5)
    assert g.gamma == pytest.approx(0.0655, abs=5e-5)
    assert g.vega == pytest.approx(12.1, abs=1e-2)  # per 1.00 of vol (Hull: 12.1)
    assert g.vega_per_point == pytest.approx(g.vega / 100, rel=1e-15)
    assert g.theta == pytest.approx(-4.31, abs=5e-3)  # per year
    assert g.theta_per_day == pytest.approx(-4.31 / 365, abs=1e-4)
    assert g.rho == pytest.approx(8.91, abs=5e-3)  # per 1.00 of rate
    assert isinstance(g.price, np.floating)


def test_black76_is_bsm_on_the_forward():
    s, k, t, v, r, q = 100.0, 90.0, 0.7, 0.6, 0.04, 0.01
    f = s * np.exp((r - q) * t)
    spot, fwd = bsm(s, k, t, v, r, q, False), black76(f, k, t, v, r, False)
    assert fwd.price == pytest.approx(spot.price, rel=1e-13)
    assert fwd.vega == pytest.approx(spot.vega, rel=1e-12)
    # delta w.r.t. forward times dF/dS is delta w.r.t. spot
    assert fwd.delta * np.exp((r - q) * t) == pytest.approx(spot.delta, rel=1e-12)
    assert fwd.rho == pytest.approx(-t * fwd.price, rel=1e-13)


@settings(max_examples=150, deadline=None)
@given(
    s=st.floats(1e-3, 1e6),
    moneyness=st.floats(-2.5, 2.5),
    t=st.floats(1e-5, 10.0),
    vol=st.floats(1e-3, 5.0),
    r=st.floats(-0.05, 0.3),
    q=st.floats(-0.1, 0.3),
)
def test_put_call_parity(s, moneyness, t, vol, r, q):
    k = s * np.exp(moneyness)
    with _strict():
        call, put = bsm_price(s, k, t, vol, r, q, [True, False])
    forward_value = s * np.exp(-q * t) - k * np.exp(-r * t)
    assert call - put == pytest.approx(forward_value, abs=2e-14 * (s + k))
    assert call >= 0.0 and put >= 0.0


def _bump(fn, base, name, h):
    up = dict(base, **{name: base[name] + h})
    down = dict(base, **{name: base[name] - h})
    return fn(**up), fn(**down)


@settings(max_examples=200, deadline=None)
@given(
    moneyness=st.floats(-1.0, 1.0),
    t=st.floats(0.02, 5.0),
    vol=st.floats(0.05, 3.0),
    r=st.floats(-0.02, 0.15),
    q=st.floats(-0.05, 0.15),
    is_call=st.booleans(),
)
def test_every_greek_is_the_finite_difference_of_price(moneyness, t, vol, r, q, is_call):
    base = dict(spot=100.0, strike=100.0 * np.exp(moneyness), t=t, vol=vol, rate=r, carry_yield=q, is_call=is_call)
    g = bsm(**base)
    tol = dict(rel=2e-6, abs=2e-7)

    def diff(field, name, h):
        up, down = _bump(bsm, base, name, h)
        return (getattr(up, field) - getattr(down, field)) / (2 * h)

    assert g.delta == pytest.approx(diff("price", "spot", 1e-3), **tol)
    assert g.gamma == pytest.approx(diff("delta", "spot", 1e-3), **tol)
    assert g.vega == pytest.approx(diff("price", "vol", 1e-5), **tol)
    assert g.theta == pytest.approx(-diff("price", "t", 1e-6), **tol)
    assert g.rho == pytest.approx(diff("price", "rate", 1e-6), **tol)
    assert g.vanna == pytest.approx(diff("delta", "vol", 1e-5), **tol)
    assert g.volga == pytest.approx(diff("vega", "vol", 1e-5), rel=2e-6, abs=2e-6)
    assert g.charm == pytest.approx(-diff("delta", "t", 1e-6), **tol)


def test_black76_greeks_finite_differences():
    f, k, t, v, r = 30000.0, 35000.0, 0.1, 0.8, 0.03
    g = black76(f, k, t, v, r, False)
    h = 0.01
    up, dn = black76(f + h, k, t, v, r, False), black76(f - h, k, t, v, r, False)
    assert g.delta == pytest.approx((up.price - dn.price) / (2 * h), rel=1e-7)
    assert g.gamma == pytest.approx((up.delta - dn.delta) / (2 * h), rel=1e-7)
    hr = 1e-6
    assert g.rho == pytest.approx(
        (black76_price(f, k, t, v, r + hr, False) - black76_price(f, k, t, v, r - hr, False)) / (2 * hr), rel=1e-7
    )


def test_vectorised_book_matches_scalars():
    rng = np.random.default_rng(7)
    n = 50
    s, k = 100.0, 100.0 * np.exp(rng.uniform(-1, 1, n))
    t, v, call = rng.uniform(0.01, 2, n), rng.uniform(0.1, 2, n), rng.uniform(size=n) < 0.5
    book = bsm(s, k, t, v, 0.02, 0.01, call)
    assert book.price.shape == (n,)
    for i in (0, 17, 49):
        one = bsm(s, k[i], t[i], v[i], 0.02, 0.01, bool(call[i]))
        for field in Greeks._fields:
            assert getattr(book, field)[i] == pytest.approx(getattr(one, field), rel=1e-14, abs=1e-300)


def _all_finite(g: Greeks):
    for field in Greeks._fields:
        values = np.asarray(getattr(g, field))
        assert not np.isnan(values).any(), field
        assert np.isfinite(values).all(), field


def test_edge_cases_give_limits_without_nan_or_warnings():
    s = 100.0
    k = np.array([50.0, 99.9, 100.0, 100.1, 200.0, 1e-6, 1e9])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with _strict():
            for t in (0.0, 1.0 / (365 * 24 * 60), 5.0 / (365 * 24 * 60), 1e-12):
                for v in (0.0, 1e-12, 1e-4, 0.5, 5.0):
                    for call in (True, False):
                        g = bsm(s, k, t, v, 0.05, 0.02, call)
                        _all_finite(g)
                        fwd = s * np.exp(0.03 * t)
                        intrinsic = np.exp(-0.05 * t) * np.maximum((fwd - k) if call else (k - fwd), 0)
                        assert np.all(g.price >= intrinsic - 1e-12 * s)
                        assert np.all(np.abs(g.delta) <= 1.0 + 1e-12)
                        assert np.all(g.gamma >= 0.0) and np.all(g.vega >= 0.0)


def test_zero_time_and_zero_vol_limits():
    k = np.array([90.0, 110.0])
    expired = black76(100.0, k, 0.0, 0.5, 0.0, True)
    np.testing.assert_array_equal(expired.price, [10.0, 0.0])
    np.testing.assert_array_equal(expired.delta, [1.0, 0.0])
    np.testing.assert_array_equal(expired.gamma, [0.0, 0.0])
    np.testing.assert_array_equal(expired.vega, [0.0, 0.0])
    no_vol = bsm(100.0, k, 1.0, 0.0, 0.05, 0.0, False)
    np.testing.assert_allclose(no_vol.price, np.maximum(k * np.exp(-0.05) - 100.0, 0.0), rtol=1e-13)
    np.testing.assert_array_equal(no_vol.delta, [0.0, -1.0])
    at_the_money = black76(100.0, 100.0, 0.0, 0.5, 0.0, True)
    assert at_the_money.delta == 0.5 and at_the_money.price == 0.0
    assert np.isfinite(at_the_money.gamma) and at_the_money.gamma > 1e100  # no finite limit: huge, never inf
    # approaching expiry the Greeks converge to those limits
    minutes = black76(100.0, k, 1e-9, 0.5, 0.0, True)
    np.testing.assert_allclose(minutes.delta, [1.0, 0.0], atol=1e-300)


def test_deep_in_and_out_of_the_money():
    g = bsm(100.0, np.array([1e-3, 1e6]), 1.0, 0.3, 0.01, 0.0, True)
    assert g.price[0] == pytest.approx(100.0 - 1e-3 * np.exp(-0.01), rel=1e-14)
    assert g.delta[0] == 1.0 and 0.0 < g.price[1] < 1e-200 and g.delta[1] < 1e-200
    # far out of the money but representable: relative precision kept (reference: 60-digit mpmath)
    tiny = black76_price(1.0, np.exp(0.1), 1e-4, 1.0, 0.0, True)  # x=-0.1, s=0.01
    assert tiny == pytest.approx(np.sqrt(np.exp(0.1)) * 7.4744685724967291e-27, rel=1e-12)


def test_invalid_rows_are_nan_and_only_they():
    g = bsm([100.0, -1.0, 100.0, 100.0], [100.0, 100.0, 0.0, 100.0], 1.0, [0.2, 0.2, 0.2, -0.1])
    assert np.isfinite(g.price[0])
    assert np.isnan(g.price[1:]).all() and np.isnan(g.gamma[1:]).all()


def test_units_helpers():
    g = bsm(100.0, 100.0, 0.5, 0.4, 0.0)
    assert g.vega_per_point == pytest.approx(g.vega / 100)
    assert g.theta_per_day == pytest.approx(g.theta / 365)
    assert g.charm_per_day == pytest.approx(g.charm / 365)
    assert g.vanna_per_point == pytest.approx(g.vanna / 100)
    assert g.volga_per_point == pytest.approx(g.volga / 1e4)
    doubled = g.scaled(2.0)
    assert doubled.delta == pytest.approx(2 * g.delta)
