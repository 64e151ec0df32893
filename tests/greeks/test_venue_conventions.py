"""Venue tickers normalised to core units and reproduced by the local model.

Bybit: the real v5 option ticker in tests/data/bybit_ws_ticker_option_BTC.json.
Deribit: no real Deribit *option* ticker is in the shared samples (only a
perpetual), so its test builds a ticker from Deribit's documented
conventions (mark_iv in percent, mark_price in coins, vega per vol point
and theta per day in USD, Black delta) and checks the normaliser undoes
exactly those conventions.
"""

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.core.greeks import (
    black76,
    compare_greeks,
    from_bybit_ticker,
    from_deribit_ticker,
    implied_vol_black76,
    inverse_option,
    local_values,
)

DATA = Path(__file__).resolve().parent.parent / "data"
YEAR_SECONDS = 365 * 86400


@pytest.fixture
def bybit():
    message = json.loads((DATA / "bybit_ws_ticker_option_BTC.json").read_text())
    data = message["data"]
    assert data["symbol"] == "BTC-6JAN23-17500-C"  # expiry 2023-01-06 08:00 UTC
    expiry = datetime(2023, 1, 6, 8, tzinfo=timezone.utc).timestamp()
    t = (expiry - message["ts"] / 1000) / YEAR_SECONDS
    return data, t


def test_bybit_normaliser_units(bybit):
    data, _ = bybit
    venue = from_bybit_ticker(data)
    assert venue.mark_iv == 0.4896  # already a fraction on Bybit
    assert venue.vega == pytest.approx(81.351067)  # per 1.00 of vol
    assert venue.theta == pytest.approx(-19.9115368 * 365)  # per year
    assert math.isnan(venue.rho)


def test_bybit_ticker_reproduced(bybit):
    data, t = bybit
    venue = from_bybit_ticker(data)
    f, k = venue.underlying_price, 17500.0
    # implied vol of the mark price agrees with the quoted mark IV (4 decimals; the mark was
    # taken about a second before the message timestamp, which moves the 5th decimal)
    iv = implied_vol_black76(venue.mark_price_usd, f, k, t, 0.0, True).vol
    assert iv == pytest.approx(venue.mark_iv, abs=1e-4)
    assert black76(f, k, t, venue.mark_iv, 0.0, True).price == pytest.approx(venue.mark_price_usd, rel=2e-3)
    local = black76(f, k, t, iv, 0.0, True)
    assert local.price == pytest.approx(venue.mark_price_usd, rel=1e-12)
    assert local.delta == pytest.approx(venue.delta, abs=5e-6)  # Bybit rounds delta to 6 decimals
    assert local.vega == pytest.approx(venue.vega, rel=5e-5)


@pytest.mark.xfail(strict=True, reason="Bybit's gamma and theta are 1/1.16 of Black-76's in this sample; unexplained")
def test_bybit_gamma_theta_reproduced(bybit):
    data, t = bybit
    venue = from_bybit_ticker(data)
    iv = implied_vol_black76(venue.mark_price_usd, venue.underlying_price, 17500.0, t, 0.0, True).vol
    local = black76(venue.underlying_price, 17500.0, t, iv, 0.0, True)
    assert local.gamma == pytest.approx(venue.gamma, rel=1e-3)
    assert local.theta == pytest.approx(venue.theta, rel=1e-3)


def test_compare_flags_only_the_differing_greeks(bybit):
    data, t = bybit
    venue = from_bybit_ticker(data)
    local = black76(venue.underlying_price, 17500.0, t, venue.mark_iv, 0.0, True)
    flagged = compare_greeks(local_values(local, venue.mark_iv), venue, rel_tol=0.05)
    assert sorted(d.name for d in flagged) == ["gamma", "theta"]
    assert all(d.rel_diff > 0.1 for d in flagged)
    assert compare_greeks(local_values(local, venue.mark_iv), venue, rel_tol=0.2) == []


def _deribit_style_ticker(f, k, t, vol, call):
    """A Deribit option ticker as its documentation defines the fields."""
    inv = inverse_option(f, k, t, vol, call)
    g = inv.usd
    return {
        "instrument_name": "BTC-TEST",
        "underlying_price": f,
        "mark_price": float(inv.coin_price),  # coins
        "mark_iv": vol * 100.0,  # percent
        "greeks": {
            "delta": round(float(g.delta), 5),  # Black delta, not premium-adjusted
            "gamma": round(float(g.gamma), 5),
            "vega": round(float(g.vega_per_point), 5),  # USD per vol point
            "theta": round(float(g.theta_per_day), 5),  # USD per day
            "rho": round(float(g.rho) / 100.0, 5),  # USD per 1 % of rate
        },
    }


def test_deribit_conventions_normalised():
    f, k, t, vol = 60000.0, 70000.0, 30 / 365, 0.55
    ticker = _deribit_style_ticker(f, k, t, vol, True)
    venue = from_deribit_ticker(ticker, time_to_expiry=t)
    local = inverse_option(f, k, t, venue.mark_iv, True)
    assert venue.mark_iv == pytest.approx(0.55)
    assert venue.mark_price_usd == pytest.approx(float(local.usd.price), rel=1e-12)
    assert compare_greeks(local_values(local.usd, venue.mark_iv), venue, rel_tol=1e-4, abs_tol={"gamma": 1e-5}) == []
    # Deribit's delta total uses the premium-adjusted delta, not the ticker's
    assert float(local.coin_delta) == pytest.approx(venue.delta - ticker["mark_price"], abs=1e-5)
    # under one day Deribit's theta is the remaining life's decay: not comparable
    short = from_deribit_ticker(_deribit_style_ticker(f, k, 0.5 / 365, vol, True), time_to_expiry=0.5 / 365)
    assert math.isnan(short.theta)
