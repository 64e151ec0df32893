"""The options book's two Greek sources: local at the venue's mark IV, or the venue's own values
(its Greeks, and the delta it reports for our option position while fresh), and the logged
comparison between them."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from bot.core.greeks import VenueGreeks, black76
from bot.core.types import InstrumentSpec
from bot.core.options_book import SECONDS_PER_YEAR, VENUE_MAX_AGE_S, OptionPosition, OptionsBook
from bot.portfolio import Portfolio
from bot.venues.base import OptionGreeksUpdate, PositionDeltaUpdate

NOW = 1_700_000_040.0  # on a 60 s boundary, so the book's time step does not move the expiry
EXPIRY = NOW + 30 * 86_400
T = (EXPIRY - NOW) / SECONDS_PER_YEAR
CALL = OptionPosition("c", "BTC", 60_000.0, EXPIRY, True, -2.0, 0.5, coin_settled=True, venue_symbol="BTC-C")


def venue_quote(forward: float = 61_000.0, iv: float = 0.6, **overrides: float) -> VenueGreeks:
    g = black76(forward, CALL.strike, T, iv, is_call=True)
    fields = dict(delta=float(g.delta), gamma=float(g.gamma), vega=float(g.vega), theta=float(g.theta),
                  rho=math.nan, mark_iv=iv, mark_price_usd=float(g.price), underlying_price=forward)
    fields.update(overrides)
    return VenueGreeks(**fields)


def test_local_source_values_at_the_venue_mark_iv() -> None:
    book = OptionsBook([CALL])
    before = book.greeks("BTC", 61_000.0, NOW)
    assert book.set_venue("BTC-C", venue_quote(iv=0.6), NOW) == []
    after = book.greeks("BTC", 61_000.0, NOW)
    g = black76(61_000.0, 60_000.0, T, 0.6, is_call=True)
    assert after.vega_usd_per_vol_point == pytest.approx(-2.0 * float(g.vega) / 100, rel=1e-12)
    assert after.theta_usd_per_day != pytest.approx(before.theta_usd_per_day, rel=1e-3)  # the IV moved


def test_venue_source_uses_the_venue_delta_premium_adjusted() -> None:
    book = OptionsBook([CALL], source="venue")
    quote = venue_quote(delta=0.7, mark_price_usd=3_000.0)
    book.set_venue("BTC-C", quote, NOW)
    view = book.greeks("BTC", 61_000.0, NOW)
    assert view.delta_coin == pytest.approx(-2.0 * (0.7 - 3_000.0 / 61_000.0), rel=1e-12)


def test_unknown_option_is_ignored_and_disagreement_is_reported() -> None:
    book = OptionsBook([CALL], tolerance=0.05)
    assert book.set_venue("ETH-C", venue_quote(), NOW) == []
    fair = venue_quote()
    differences = book.set_venue("BTC-C", fair._replace(delta=fair.delta * 1.2), NOW)
    assert [d.name for d in differences] == ["delta"]


def test_portfolio_logs_greeks_mismatch() -> None:
    portfolio = Portfolio(100_000.0, [CALL], greeks_source="local", greeks_tolerance=0.05)
    fair = venue_quote()
    with capture_logs() as logs:
        portfolio.on_venue_greeks(OptionGreeksUpdate("BTC-C", fair, NOW))
        portfolio.on_venue_greeks(OptionGreeksUpdate("BTC-C", fair._replace(gamma=fair.gamma * 2), NOW))
    assert [(e["event"], e["greek"]) for e in logs] == [("greeks.mismatch", "gamma")]


def test_delta_unit_usd_pnl_uses_black_delta_and_counts_coin_collateral() -> None:
    coin = OptionsBook([CALL]).greeks("BTC", 61_000.0, NOW)
    usd = OptionsBook([CALL], delta_unit="usd_pnl").greeks("BTC", 61_000.0, NOW)
    g = black76(61_000.0, 60_000.0, T, 0.5, is_call=True)
    assert usd.delta_coin == pytest.approx(-2.0 * float(g.delta), rel=1e-12)
    assert coin.delta_coin == pytest.approx(-2.0 * (float(g.delta) - float(g.price) / 61_000.0), rel=1e-12)


class _Member:
    """A linear BTC perpetual with no position (only its mid matters here)."""

    symbol = "BTC-PERP"
    spec = InstrumentSpec("BTC-PERP", Decimal("0.5"), Decimal("0.001"), Decimal("0.001"))

    def mid(self) -> float:
        return 61_000.0


def test_usd_pnl_portfolio_adds_the_coin_balance() -> None:
    portfolio = Portfolio(0.0, [CALL], delta_unit="usd_pnl", coin_balance={"BTC": 1.5})
    g = black76(61_000.0, 60_000.0, T, 0.5, is_call=True)
    view = portfolio.greeks(_Member(), NOW)
    assert view.delta_coin == pytest.approx(-2.0 * float(g.delta) + 1.5, rel=1e-12)


# the venue's delta of our option position ----------------------------------------------------------
def local_coin_delta(forward: float = 61_000.0, iv: float = 0.6) -> float:
    """Premium-adjusted delta per coin of CALL (Deribit's convention for coin-settled options)."""
    g = black76(forward, CALL.strike, T, iv, is_call=True)
    return float(g.delta) - float(g.price) / forward


def test_venue_source_uses_the_venue_position_delta_while_it_is_fresh() -> None:
    book = OptionsBook([CALL], source="venue")
    computed = book.greeks("BTC", 61_000.0, NOW)
    # the venue holds 4 coins of it (the book: -2); its delta per coin applies to the book's quantity
    assert book.set_venue_position("BTC-C", 1.2, 4.0, NOW) == []        # no venue marks yet: nothing to compare
    used = book.greeks("BTC", 61_000.0, NOW + VENUE_MAX_AGE_S)
    assert used.delta_coin == pytest.approx(-2.0 * 0.3, rel=1e-12)
    assert (used.gamma_coin, used.vega_usd_per_vol_point) == (computed.gamma_coin, computed.vega_usd_per_vol_point)
    stale = book.greeks("BTC", 61_000.0, NOW + VENUE_MAX_AGE_S + 1)       # too old: the computed delta again
    assert stale.delta_coin == computed.delta_coin
    assert OptionsBook([CALL], source="local").set_venue_position("BTC-C", 1.2, 4.0, NOW) == []


def test_local_source_ignores_the_venue_position_delta() -> None:
    book = OptionsBook([CALL])
    computed = book.greeks("BTC", 61_000.0, NOW)
    book.set_venue_position("BTC-C", 1.2, 4.0, NOW)
    assert book.greeks("BTC", 61_000.0, NOW).delta_coin == computed.delta_coin


@pytest.mark.parametrize("delta, size", [(0.0, 0.0), (math.nan, 2.0), (1.0, math.inf)])
def test_a_flat_or_unusable_report_falls_back_to_the_computed_delta(delta: float, size: float) -> None:
    book = OptionsBook([CALL], source="venue")
    computed = book.greeks("BTC", 61_000.0, NOW)
    book.set_venue_position("BTC-C", 1.2, 4.0, NOW)
    assert book.set_venue_position("BTC-C", delta, size, NOW) == []
    assert book.greeks("BTC", 61_000.0, NOW).delta_coin == computed.delta_coin
    assert book.set_venue_position("ETH-C", 1.0, 1.0, NOW) == []         # not in the book


def test_position_delta_is_compared_with_the_local_premium_adjusted_delta() -> None:
    book = OptionsBook([CALL], tolerance=0.05)
    book.set_venue("BTC-C", venue_quote(), NOW)                         # the venue's marks: F 61,000, IV 60 %
    fair = local_coin_delta()
    assert book.set_venue_position("BTC-C", -2.0 * fair * 1.04, -2.0, NOW) == []
    [difference] = book.set_venue_position("BTC-C", -2.0 * fair * 1.2, -2.0, NOW)
    assert (difference.name, difference.local, difference.venue) == ("position_delta", pytest.approx(fair),
                                                                     pytest.approx(fair * 1.2))


def test_usd_pnl_unit_adds_the_premium_back_to_the_venue_position_delta() -> None:
    book = OptionsBook([CALL], source="venue", delta_unit="usd_pnl")
    book.set_venue("BTC-C", venue_quote(mark_price_usd=3_000.0), NOW)
    book.set_venue_position("BTC-C", -0.6, -2.0, NOW)                   # 0.3 per coin, premium-adjusted
    view = book.greeks("BTC", 61_000.0, NOW)
    assert view.delta_coin == pytest.approx(-2.0 * (0.3 + 3_000.0 / 61_000.0), rel=1e-12)


def test_portfolio_takes_the_venue_position_delta_and_logs_its_mismatch() -> None:
    portfolio = Portfolio(0.0, [CALL], greeks_source="venue", greeks_tolerance=0.05)
    portfolio.on_venue_greeks(OptionGreeksUpdate("BTC-C", venue_quote(), NOW))
    with capture_logs() as logs:
        portfolio.on_venue_position_delta(PositionDeltaUpdate("BTC-C", -0.6, -2.0, NOW))
    assert [(e["event"], e["greek"], e["option"]) for e in logs] == [("greeks.mismatch", "position_delta", "BTC-C")]
    assert portfolio.greeks(_Member(), NOW).delta_coin == pytest.approx(-2.0 * 0.3, rel=1e-12)
