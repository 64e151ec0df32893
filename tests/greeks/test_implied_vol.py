"""Implied volatility: round trips over wide and hard ranges, no-arbitrage bounds."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.greeks import IVReason, black76, black76_price, bsm_price, implied_vol_black76, implied_vol_bsm

MINUTE = 1.0 / (365 * 24 * 60)


def _round_trip(f, k, t, vol, call, rate=0.0):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(divide="raise", over="raise", invalid="raise", under="ignore"):
            price = black76_price(f, k, t, vol, rate, call)
            iv = implied_vol_black76(price, f, k, t, rate, call)
            again = black76_price(f, k, t, iv.vol, rate, call)
    return price, iv, again


def _time_value(price, f, k, call, rate, t):
    return price - np.exp(-rate * t) * np.maximum(np.where(call, f - k, k - f), 0.0)


def test_random_book_round_trip_to_1e12():
    rng = np.random.default_rng(11)
    n = 20000
    f = np.full(n, 100.0)
    k = f * np.exp(rng.uniform(-3, 3, n) * rng.uniform(0, 1, n))
    t = np.exp(rng.uniform(np.log(MINUTE), np.log(5.0), n))
    vol = np.exp(rng.uniform(np.log(0.01), np.log(5.0), n))
    call = rng.uniform(size=n) < 0.5
    price, iv, again = _round_trip(f, k, t, vol, call, 0.02)
    assert (iv.reason == IVReason.OK).all()
    tv = _time_value(price, f, k, call, 0.02, t)
    meaningful = tv > 1e-280
    rel = np.abs(again - price)[meaningful] / tv[meaningful]
    assert rel.max() < 1e-11  # relative to the time value, the part IV explains
    assert np.abs(again - price).max() < 1e-12 * 100  # and in price units of the forward
    # where vega is not negligible the vol itself comes back
    vega = black76(f, k, t, vol, 0.02, call).vega
    good = vega * vol > 1e-6 * f
    np.testing.assert_allclose(iv.vol[good], vol[good], rtol=1e-8)


@pytest.mark.parametrize(
    "k,t,vol",
    [
        (100.5, 5 * MINUTE, 0.5),  # minutes to expiry, near the money
        (103.0, 30 * MINUTE, 0.8),  # minutes, out of the money
        (400.0, 7 / 365, 1.2),  # far out of the money, a week
        (20.0, 0.05, 0.9),  # far out of the money put side
        (100.0, 1.0, 5.0),  # 500 % vol
        (300.0, 2.0, 5.0),  # 500 % vol, out of the money
        (1e4, 1.0, 0.3),  # absurdly far: tiny price, still relative precision
        (100.0, MINUTE, 0.01),  # one minute, 1 % vol
    ],
)
@pytest.mark.parametrize("call", [True, False])
def test_hard_cases(k, t, vol, call):
    price, iv, again = _round_trip(100.0, k, t, vol, call)
    assert iv.reason == IVReason.OK
    tv = _time_value(price, 100.0, k, call, 0.0, t)
    if tv > 1e-250:
        assert abs(again - price) <= 1e-12 * max(tv, 1e-300) + 1e-15 * price
        assert iv.vol == pytest.approx(vol, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    moneyness=st.floats(-4.0, 4.0),
    t=st.floats(MINUTE, 10.0),
    vol=st.floats(0.005, 5.0),
    call=st.booleans(),
)
def test_round_trip_property(moneyness, t, vol, call):
    k = 100.0 * np.exp(moneyness)
    price, iv, again = _round_trip(100.0, k, t, vol, call)
    tv = _time_value(price, 100.0, k, call, 0.0, t)
    assert iv.reason == IVReason.OK
    assert abs(again - price) <= 1e-12 * max(tv, 1e-290) + 4e-16 * price


def test_outside_no_arbitrage_bounds_gives_nan_with_reason():
    f, k, t = 100.0, np.array([90.0, 110.0, 100.0, 100.0, 100.0, 100.0]), 0.5
    price = np.array([9.0, 100.0, 2.0, 5.0, np.nan, 5.0])
    call = np.array([True, True, True, False, True, True])
    t_arr = np.array([t, t, t, t, t, 0.0])
    iv = implied_vol_black76(price, f, k, t_arr, 0.0, call)
    assert iv.reason.tolist() == [
        IVReason.BELOW_INTRINSIC,
        IVReason.ABOVE_MAXIMUM,
        IVReason.OK,
        IVReason.OK,
        IVReason.INVALID_INPUT,
        IVReason.INVALID_INPUT,
    ]
    assert np.isnan(iv.vol[[0, 1, 4, 5]]).all() and np.isfinite(iv.vol[[2, 3]]).all()
    at_intrinsic = implied_vol_black76(10.0, 100.0, 90.0, 0.5, 0.0, True)
    assert at_intrinsic.vol == 0.0 and at_intrinsic.reason == IVReason.OK


def test_bsm_wrapper_and_scalars():
    price = bsm_price(49.0, 50.0, 20 / 52, 0.2, 0.05)
    iv = implied_vol_bsm(price, 49.0, 50.0, 20 / 52, 0.05)
    assert iv.vol == pytest.approx(0.2, rel=1e-13)
    assert np.ndim(iv.vol) == 0
    grid = implied_vol_bsm(
        bsm_price(100.0, [[90.0], [110.0]], 1.0, 0.4, 0.01, 0.02, [True, False]), 100.0, [[90.0], [110.0]], 1.0,
        0.01, 0.02, [True, False]
    )
    assert grid.vol.shape == (2, 2)
    np.testing.assert_allclose(grid.vol, 0.4, rtol=1e-12)


def test_blocks_match_one_call_and_keep_reasons():
    # more than one CHUNK, with invalid and out-of-bounds rows scattered through it
    from bot.core.greeks.implied_vol import CHUNK

    rng = np.random.default_rng(5)
    n = 2 * CHUNK + 123
    f = np.full(n, 100.0)
    k = f * np.exp(rng.uniform(-1, 1, n))
    t = rng.uniform(MINUTE, 2.0, n)
    call = rng.uniform(size=n) < 0.5
    price = black76_price(f, k, t, rng.uniform(0.05, 2.0, n), 0.01, call)
    bad = rng.choice(n, 300, replace=False)
    price[bad[:100]] = np.nan
    t[bad[100:200]] = 0.0
    price[bad[200:]] = 1e6  # above the maximum
    whole = implied_vol_black76(price, f, k, t, 0.01, call)
    assert (whole.reason[bad[:200]] == IVReason.INVALID_INPUT).all()
    assert (whole.reason[bad[200:]] == IVReason.ABOVE_MAXIMUM).all()
    pieces = [implied_vol_black76(price[i : i + 1000], f[i : i + 1000], k[i : i + 1000], t[i : i + 1000], 0.01,
                                  call[i : i + 1000]) for i in range(0, n, 1000)]
    np.testing.assert_array_equal(whole.vol, np.concatenate([p.vol for p in pieces]))
    np.testing.assert_array_equal(whole.reason, np.concatenate([p.reason for p in pieces]))


def test_two_householder_steps_are_enough_almost_everywhere():
    # Jäckel's guess is good enough that two steps converge; the loop after them is a safety net
    from bot.core.greeks import implied_vol as module
    from bot.core.greeks.normalised import otm_black

    rng = np.random.default_rng(8)
    n = 50_000
    a = -np.abs(rng.normal(0.0, 0.3, n))
    s = rng.uniform(0.05, 2.0, n) * np.sqrt(rng.uniform(1 / 365, 2.0, n))
    beta = otm_black(a, s)
    keep = beta > 1e-300  # the solver gives 0 for subnormal values
    a, s, beta = a[keep], s[keep], beta[keep]
    with np.errstate(all="ignore"):
        guess, segment = module._initial_guess(beta, a, np.exp(0.5 * a))
        middle = segment == 1
        assert np.abs(guess / s - 1)[middle].max() < 0.01
        assert np.abs(guess / s - 1).max() < 0.1
        ln_beta = np.log(beta)
        lowest, highest = np.flatnonzero(segment == 0), np.flatnonzero(segment == 2)
        for i in range(module.FIXED_ITERATIONS):
            ds = module._householder_step(beta, ln_beta, a, np.exp(0.5 * a), guess, lowest, highest, rough=i == 0)
    more = ~(np.abs(ds) <= module.STEP_TOLERANCE * guess)
    assert more.mean() < 0.05
    assert more[middle].sum() == 0
    np.testing.assert_allclose(guess, s, rtol=1e-12)


def test_subnormal_time_value_gives_zero_vol():
    from bot.core.greeks.implied_vol import normalised_implied_vol

    s = normalised_implied_vol(np.array([1e-310, 0.1]), np.array([-1.0, -0.1]))
    assert s[0] == 0.0 and s[1] > 0.0


def test_time_value_lost_to_rounding_is_above_maximum():
    # a put 35 log-units in the money: subtracting its intrinsic value (2.7e17) from the price
    # leaves more than the out-of-the-money maximum although the price is below the strike's
    k, t, price = 2.943658105931353e17, 7.082131887923654, 2.742395319621286e17
    assert price < np.exp(-0.01 * t) * k
    iv = implied_vol_black76(price, 100.0, k, t, 0.01, False)
    assert iv.reason == IVReason.ABOVE_MAXIMUM and np.isnan(iv.vol)
