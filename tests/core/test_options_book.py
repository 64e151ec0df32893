"""The options book: totals per underlying from the Greeks engine; coin-settled options report the
premium-adjusted (coin) delta; time moves in steps of ``time_step_s``."""

from __future__ import annotations

import math

import pytest

from bot.core.greeks import black76, black76_price, inverse_option
from bot.core.options_book import SECONDS_PER_YEAR, OptionPosition, OptionsBook, OptionsGreeks

NOW = 1_700_000_040.0  # a multiple of 60 s
DAY = 86_400.0
EXPIRY = NOW + 30 * DAY
T = (EXPIRY - NOW) / SECONDS_PER_YEAR
F = 55_000.0


def option(key="C1", underlying="BTC", strike=60_000.0, expiry=EXPIRY, is_call=True, quantity=1.0,
           iv=0.6, coin_settled=True) -> OptionPosition:
    return OptionPosition(key, underlying, strike, expiry, is_call, quantity, iv, coin_settled)


def test_coin_settled_call_reports_coin_delta_and_coin_gamma() -> None:
    g = OptionsBook([option(quantity=2.5)]).greeks("BTC", F, NOW)
    inv = inverse_option(F, 60_000.0, T, 0.6, True)
    assert g.delta_coin == pytest.approx(float(inv.coin_delta) * 2.5, rel=1e-12)
    assert g.gamma_coin == pytest.approx(float(inv.coin_gamma) * 2.5, rel=1e-12)
    # premium-adjusted: below the plain Black delta by the coin price
    assert g.delta_coin == pytest.approx(2.5 * (float(inv.usd.delta) - float(inv.usd.price) / F), rel=1e-12)
    assert g.delta_coin < 2.5 * float(inv.usd.delta)


def test_short_coin_settled_put_scales_by_signed_quantity() -> None:
    g = OptionsBook([option(is_call=False, strike=50_000.0, quantity=-3.0)]).greeks("BTC", F, NOW)
    inv = inverse_option(F, 50_000.0, T, 0.6, False)
    assert g.delta_coin == pytest.approx(-3.0 * float(inv.coin_delta), rel=1e-12)
    assert g.gamma_coin == pytest.approx(-3.0 * float(inv.coin_gamma), rel=1e-12)
    assert g.vega_usd_per_vol_point == pytest.approx(-3.0 * float(inv.usd.vega_per_point), rel=1e-12)
    assert g.vega_usd_per_vol_point < 0  # short vol


def test_coin_gamma_is_the_derivative_of_the_reported_delta() -> None:
    book, h = OptionsBook([option(quantity=2.0), option("P1", is_call=False, strike=45_000.0, quantity=-1.0)]), 1.0
    up, dn = book.greeks("BTC", F + h, NOW), book.greeks("BTC", F - h, NOW)
    assert book.greeks("BTC", F, NOW).gamma_coin == pytest.approx((up.delta_coin - dn.delta_coin) / (2 * h), rel=1e-5)


def test_usd_settled_option_reports_the_plain_black76_delta() -> None:
    g = OptionsBook([option(coin_settled=False, quantity=1.5)]).greeks("BTC", F, NOW)
    b = black76(F, 60_000.0, T, 0.6, 0.0, True)
    assert g.delta_coin == pytest.approx(1.5 * float(b.delta), rel=1e-12)
    assert g.gamma_coin == pytest.approx(1.5 * float(b.gamma), rel=1e-12)
    coin = OptionsBook([option(quantity=1.5)]).greeks("BTC", F, NOW)
    assert g.delta_coin - coin.delta_coin == pytest.approx(1.5 * float(b.price) / F, rel=1e-9)


def test_vega_per_vol_point_and_theta_per_day() -> None:
    g = OptionsBook([option(quantity=2.0)]).greeks("BTC", F, NOW)
    b = black76(F, 60_000.0, T, 0.6, 0.0, True)
    assert g.vega_usd_per_vol_point == pytest.approx(2.0 * float(b.vega_per_point), rel=1e-12)
    assert g.theta_usd_per_day == pytest.approx(2.0 * float(b.theta_per_day), rel=1e-12)
    # the units, independently: USD per 0.01 of vol, USD per calendar day (theta < 0 for a long)
    bump = float(black76_price(F, 60_000.0, T, 0.605) - black76_price(F, 60_000.0, T, 0.595))
    assert g.vega_usd_per_vol_point == pytest.approx(2.0 * bump, rel=1e-4)
    decay = float(black76_price(F, 60_000.0, T - 1 / 365, 0.6) - black76_price(F, 60_000.0, T, 0.6))
    assert g.theta_usd_per_day == pytest.approx(2.0 * decay, rel=2e-2)
    assert g.theta_usd_per_day < 0


def test_book_sums_its_underlying_and_ignores_others() -> None:
    rows = [option("C1", quantity=1.0), option("P1", is_call=False, strike=50_000.0, quantity=2.0, coin_settled=False),
            option("E1", underlying="ETH", strike=3_000.0, quantity=100.0)]
    g = OptionsBook(rows).greeks("BTC", F, NOW)
    inv = inverse_option(F, 60_000.0, T, 0.6, True)
    put = black76(F, 50_000.0, T, 0.6, 0.0, False)
    assert g.delta_coin == pytest.approx(float(inv.coin_delta) + 2.0 * float(put.delta), rel=1e-12)
    assert g.gamma_coin == pytest.approx(float(inv.coin_gamma) + 2.0 * float(put.gamma), rel=1e-12)
    assert g.vega_usd_per_vol_point == pytest.approx(float(inv.usd.vega_per_point + 2.0 * put.vega_per_point),
                                                     rel=1e-12)
    assert g.theta_usd_per_day == pytest.approx(float(inv.usd.theta_per_day + 2.0 * put.theta_per_day), rel=1e-12)
    eth = OptionsBook(rows).greeks("ETH", 3_100.0, NOW)
    assert eth.delta_coin == pytest.approx(100.0 * float(inverse_option(3_100.0, 3_000.0, T, 0.6, True).coin_delta))


def test_unknown_underlying_gives_zeros() -> None:
    assert OptionsBook([option()]).greeks("SOL", 150.0, NOW) == OptionsGreeks()
    assert OptionsBook([]).greeks("BTC", F, NOW) == OptionsGreeks()


@pytest.mark.parametrize("forward", [0.0, -1.0, math.nan, math.inf])
def test_unusable_forward_gives_all_zeros(forward: float) -> None:
    g = OptionsBook([option(quantity=5.0)]).greeks("BTC", forward, NOW)
    assert g == OptionsGreeks(0.0, 0.0, 0.0, 0.0)


def _spy(book: OptionsBook) -> list:
    """Record what the book's cache revalues on each update."""
    calls: list = []
    update = book._cache.update

    def spy(*args, **kwargs):
        revalued = update(*args, **kwargs)
        calls.append(revalued)
        return revalued

    book._cache.update = spy
    return calls


def test_calls_in_one_time_step_are_identical_and_not_recomputed() -> None:
    book = OptionsBook([option("C1"), option("P1", is_call=False, strike=50_000.0)], time_step_s=60.0)
    revalued = _spy(book)
    first = book.greeks("BTC", F, NOW + 5)
    second = book.greeks("BTC", F, NOW + 55)
    assert first == second
    assert revalued == [["C1", "P1"], []]
    # valued at the start of the step
    assert first.theta_usd_per_day == pytest.approx(
        float(inverse_option(F, 60_000.0, T, 0.6, True).usd.theta_per_day
              + inverse_option(F, 50_000.0, T, 0.6, False).usd.theta_per_day), rel=1e-12)


def test_next_time_step_or_new_forward_recomputes() -> None:
    book = OptionsBook([option("C1")], time_step_s=60.0)
    revalued = _spy(book)
    first = book.greeks("BTC", F, NOW)
    later = book.greeks("BTC", F, NOW + 60)
    moved = book.greeks("BTC", F + 10, NOW + 61)
    assert revalued == [["C1"], ["C1"], ["C1"]]
    assert later != first
    later_t = (EXPIRY - NOW - 60) / SECONDS_PER_YEAR
    assert later.delta_coin == pytest.approx(float(inverse_option(F, 60_000.0, later_t, 0.6, True).coin_delta),
                                             rel=1e-12)
    assert moved.delta_coin > later.delta_coin  # a call's coin delta rises with the forward here


def test_fine_time_step_follows_the_clock() -> None:
    coarse = OptionsBook([option()], time_step_s=60.0).greeks("BTC", F, NOW + 30)
    fine = OptionsBook([option()], time_step_s=1.0).greeks("BTC", F, NOW + 30)
    t = (EXPIRY - NOW - 30) / SECONDS_PER_YEAR
    assert fine.delta_coin == pytest.approx(float(inverse_option(F, 60_000.0, t, 0.6, True).coin_delta), rel=1e-12)
    assert fine != coarse


def test_deep_itm_coin_settled_put_has_coin_delta_below_minus_one() -> None:
    rows = [option("P", is_call=False, strike=80_000.0, quantity=1.0)]
    g = OptionsBook(rows).greeks("BTC", 40_000.0, NOW)
    assert g.delta_coin < -1.0
    assert g.delta_coin == pytest.approx(-2.0, abs=0.02)  # Black delta ~ -1, coin value ~ (80k-40k)/40k = 1
    usd = OptionsBook([option("P", is_call=False, strike=80_000.0, coin_settled=False)]).greeks("BTC", 40_000.0, NOW)
    assert -1.0 <= usd.delta_coin < -0.99
