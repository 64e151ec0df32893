"""Inverse (coin-settled) options and the book delta conventions."""

import numpy as np
import pytest

from bot.core.greeks import (
    DeltaUnit,
    black76,
    inverse_future_delta,
    inverse_option,
    linear_future_delta,
    portfolio_delta,
)


def test_identities():
    f, k, t, v = 60000.0, np.array([40000.0, 60000.0, 80000.0]), 30 / 365, 0.6
    for call in (True, False):
        inv = inverse_option(f, k, t, v, call)
        usd = black76(f, k, t, v, 0.0, call)
        np.testing.assert_allclose(inv.coin_price, usd.price / f, rtol=1e-15)
        np.testing.assert_allclose(inv.coin_delta, usd.delta - usd.price / f, rtol=1e-14)
        np.testing.assert_allclose(inv.cash_delta, usd.delta * f, rtol=1e-15)
        np.testing.assert_allclose(inv.cash_gamma, usd.gamma * f * f, rtol=1e-15)
        # coin delta is F * d(coin price)/dF; coin gamma its derivative
        h = 1.0
        up, dn = inverse_option(f + h, k, t, v, call), inverse_option(f - h, k, t, v, call)
        np.testing.assert_allclose(inv.coin_delta, f * (up.coin_price - dn.coin_price) / (2 * h), rtol=1e-6)
        np.testing.assert_allclose(inv.coin_gamma, (up.coin_delta - dn.coin_delta) / (2 * h), rtol=1e-5)


def test_deep_itm_put_coin_delta_below_minus_one():
    inv = inverse_option(30000.0, 60000.0, 0.1, 0.5, False)
    assert inv.coin_delta < -1.0
    assert inv.coin_delta == pytest.approx(-1.0 - inv.coin_price, abs=2e-3)  # Black delta ~ -1
    # a zero-strike call: worth 1 coin, Black delta 1, coin delta 0 (Deribit's example)
    zero_strike = inverse_option(60000.0, 1e-9, 0.5, 0.5, True)
    assert zero_strike.coin_price == pytest.approx(1.0) and zero_strike.coin_delta == pytest.approx(0.0, abs=1e-12)


def test_future_deltas():
    assert linear_future_delta(3, 0.001) == pytest.approx(0.003)
    assert inverse_future_delta(-100, 10.0, 50000.0) == pytest.approx(-0.02)


def _coin_equity(f, balance, options, futures_usd, f0):
    """Coin equity of a Deribit-style account at price f: balance + option marks + inverse futures P&L."""
    k, t, v, call, qty = options
    marks = inverse_option(f, k, t, v, call).coin_price
    return balance + np.sum(qty * marks) + futures_usd * (1 / f0 - 1 / f)


@pytest.mark.parametrize("unit", [DeltaUnit.COIN, DeltaUnit.USD_PNL])
def test_hedging_the_chosen_delta_to_zero_keeps_that_value_stable(unit):
    f0, balance = 50000.0, 2.0
    options = (np.array([45000.0, 60000.0]), 0.2, 0.7, np.array([False, True]), np.array([3.0, -1.5]))
    k, t, v, call, qty = options
    inv = inverse_option(f0, k, t, v, call)
    equity = _coin_equity(f0, balance, options, 0.0, f0)
    before = portfolio_delta(unit, f0, qty * inv.coin_delta, [], equity)
    # the inverse future (USD notional) that zeroes the chosen delta: its delta is notional / F
    hedge_usd = -before * f0
    assert portfolio_delta(unit, f0, qty * inv.coin_delta, inverse_future_delta(hedge_usd, 1.0, f0), equity) == (
        pytest.approx(0.0, abs=1e-9)
    )
    h = 5.0
    coin = [_coin_equity(f0 + s, balance, options, hedge_usd, f0) for s in (-h, h)]
    usd = [c * (f0 + s) for c, s in zip(coin, (-h, h), strict=True)]
    coin_slope = (coin[1] - coin[0]) / (2 * h)
    usd_slope = (usd[1] - usd[0]) / (2 * h)
    if unit is DeltaUnit.COIN:
        assert abs(coin_slope * f0) < 1e-6  # coin balance flat to first order
        assert abs(usd_slope) > 0.1  # but USD P&L is not
    else:
        assert abs(usd_slope) < 1e-6  # USD value flat to first order
        assert abs(coin_slope * f0) > 0.1
    cash = portfolio_delta(DeltaUnit.CASH_USD, f0, qty * inv.coin_delta, [], equity)
    assert cash == pytest.approx(portfolio_delta(DeltaUnit.USD_PNL, f0, qty * inv.coin_delta, [], equity) * f0)
