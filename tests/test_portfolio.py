"""The portfolio: account equity (peak, UTC day start), Greeks on an underlying excluding the asking
instrument, and peers."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.options_book import OptionPosition, OptionsBook
from bot.core.types import AccountView, GreeksView, InstrumentSpec, PeerView, PnlView
from bot.portfolio import SECONDS_PER_DAY, Portfolio

D = Decimal
ROOT = Path(__file__).resolve().parents[1]
DAY0 = 19_700 * SECONDS_PER_DAY  # a UTC midnight
NOW = DAY0 + 3_600.0


def make_spec(symbol: str, base: str = "BTC", contract_size: str = "1", inverse: bool = False) -> InstrumentSpec:
    return InstrumentSpec(symbol, D("0.5"), D("1"), D("1"), contract_size=D(contract_size), inverse=inverse, base=base)


@dataclass
class FakeMember:
    symbol: str
    spec: InstrumentSpec
    mid_value: float | None = 50_000.0
    position: float = 0.0
    vol: float | None = None
    pnl: PnlView = field(default_factory=PnlView)

    def mid(self) -> float | None:
        return self.mid_value

    def position_contracts(self) -> float:
        return self.position

    def realised_vol(self) -> float | None:
        return self.vol

    def pnl_view(self) -> PnlView:
        return self.pnl


def member(symbol: str, **kw) -> FakeMember:
    spec_kw = {k: kw.pop(k) for k in ("base", "contract_size", "inverse") if k in kw}
    return FakeMember(symbol, make_spec(symbol, **spec_kw), **kw)


def pnl(realised: float = 0.0, unrealised: float = 0.0, fees: float = 0.0) -> PnlView:
    return PnlView(realized_pnl_usd=realised, unrealized_pnl_usd=unrealised, fees_usd=fees)


# -- account --------------------------------------------------------------------------------------

def test_equity_is_capital_plus_members_pnl_net_of_fees() -> None:
    p = Portfolio(10_000.0, [])
    assert p.account(NOW).equity_usd == 10_000.0
    p.add(member("A", pnl=pnl(100.0, -30.0, 5.0)))
    p.add(member("B", pnl=pnl(-20.0, 50.0, 2.0)))
    assert p.account(NOW).equity_usd == pytest.approx(10_000.0 + 65.0 + 28.0)


def test_adding_a_member_twice_under_one_symbol_counts_it_once() -> None:
    p = Portfolio(1_000.0, [])
    p.add(member("A", pnl=pnl(100.0)))
    p.add(member("A", pnl=pnl(40.0)))
    assert p.account(NOW).equity_usd == pytest.approx(1_040.0)


def test_peak_only_rises() -> None:
    a = member("A")
    p = Portfolio(10_000.0, [])
    p.add(a)
    seen = []
    for change in (100.0, 50.0, 200.0, -1_000.0, 150.0):
        a.pnl = pnl(realised=change)
        seen.append(p.account(NOW))
    assert [v.equity_usd for v in seen] == pytest.approx([10_100.0, 10_050.0, 10_200.0, 9_000.0, 10_150.0])
    assert [v.peak_equity_usd for v in seen] == pytest.approx([10_100.0, 10_100.0, 10_200.0, 10_200.0, 10_200.0])


def test_peak_starts_at_capital() -> None:
    p = Portfolio(10_000.0, [])
    p.add(member("A", pnl=pnl(unrealised=-500.0)))
    assert p.account(NOW) == AccountView(9_500.0, 10_000.0, 9_500.0)


def test_day_start_resets_when_the_utc_day_changes() -> None:
    a = member("A")
    p = Portfolio(10_000.0, [])
    p.add(a)
    a.pnl = pnl(realised=100.0)
    assert p.account(DAY0 + 10).day_start_equity_usd == pytest.approx(10_100.0)
    a.pnl = pnl(realised=400.0)
    assert p.account(DAY0 + SECONDS_PER_DAY - 1).day_start_equity_usd == pytest.approx(10_100.0)
    a.pnl = pnl(realised=250.0)
    view = p.account(DAY0 + SECONDS_PER_DAY)  # next UTC midnight
    assert view.day_start_equity_usd == pytest.approx(10_250.0)
    assert view.peak_equity_usd == pytest.approx(10_400.0)
    a.pnl = pnl(realised=-50.0)
    assert p.account(DAY0 + 1.5 * SECONDS_PER_DAY).day_start_equity_usd == pytest.approx(10_250.0)


# -- greeks ---------------------------------------------------------------------------------------

OPTIONS = [
    OptionPosition("BTC-C", "BTC", 60_000.0, NOW + 30 * SECONDS_PER_DAY, True, 2.0, 0.6),
    OptionPosition("BTC-P", "BTC", 45_000.0, NOW + 10 * SECONDS_PER_DAY, False, -1.0, 0.7, coin_settled=False),
    OptionPosition("ETH-C", "ETH", 3_000.0, NOW + 30 * SECONDS_PER_DAY, True, 50.0, 0.8),
]


def test_greeks_exclude_the_asker_and_other_bases_but_include_the_options_book() -> None:
    perp = member("BTC-PERP", contract_size="0.001", position=500.0, mid_value=50_000.0)  # 0.5 BTC
    inv = member("BTC-INV", contract_size="10", inverse=True, position=-1000.2, mid_value=50_010.0)  # -0.2 BTC
    fut = member("BTC-FUT", position=0.1)
    eth = member("ETH-PERP", base="ETH", position=3.0, mid_value=3_000.0)
    p = Portfolio(10_000.0, OPTIONS)
    for m in (perp, inv, fut, eth):
        p.add(m)
    book = OptionsBook(OPTIONS).greeks("BTC", 50_000.0, NOW)
    assert book.delta_coin != 0.0 and book.gamma_coin != 0.0
    g = p.greeks(perp, NOW)
    assert g.delta_coin == pytest.approx(book.delta_coin - 0.2 + 0.1)
    assert g.gamma_coin == pytest.approx(book.gamma_coin)
    assert g.vega_usd_per_vol_point == pytest.approx(book.vega_usd_per_vol_point)
    assert g.theta_usd_per_day == pytest.approx(book.theta_usd_per_day)
    # asked by another member, the perp counts and the asker does not
    at_inv = OptionsBook(OPTIONS).greeks("BTC", 50_010.0, NOW)
    assert p.greeks(inv, NOW).delta_coin == pytest.approx(at_inv.delta_coin + 0.5 + 0.1)
    # ETH sees its options only (no other ETH member)
    assert p.greeks(eth, NOW).delta_coin == pytest.approx(OptionsBook(OPTIONS).greeks("ETH", 3_000.0, NOW).delta_coin)


def test_greeks_without_options_are_the_other_members_exposure() -> None:
    a, b = member("A", position=1.5), member("B", position=-0.25)
    p = Portfolio(0.0, [])
    p.add(a)
    p.add(b)
    assert p.greeks(a, NOW) == GreeksView(delta_coin=-0.25, instrument_delta_coin=1.0)
    assert p.greeks(b, NOW).delta_coin == pytest.approx(1.5)


def test_instrument_delta_of_one_contract() -> None:
    linear = member("L", contract_size="0.001")
    inverse = member("I", contract_size="10", inverse=True, mid_value=40_000.0)
    p = Portfolio(0.0, [])
    p.add(linear)
    p.add(inverse)
    assert p.greeks(linear, NOW).instrument_delta_coin == pytest.approx(0.001)
    assert p.greeks(inverse, NOW).instrument_delta_coin == pytest.approx(10 / 40_000.0)
    assert p.greeks(linear, NOW).instrument_vega_usd_per_vol_point == 0.0


def test_no_mid_on_the_underlying_gives_the_default_view() -> None:
    a = member("A", mid_value=None)
    other = member("B", position=2.0, mid_value=None)
    p = Portfolio(0.0, OPTIONS)
    p.add(a)
    p.add(other)
    assert p.greeks(a, NOW) == GreeksView()


# -- peers ----------------------------------------------------------------------------------------

def test_peers_exclude_self() -> None:
    a = member("A", mid_value=100.0, vol=0.5)
    b = member("B", mid_value=200.0, vol=0.7)
    c = member("C", base="ETH", mid_value=None, vol=None)
    p = Portfolio(0.0, [])
    for m in (a, b, c):
        p.add(m)
    assert p.peers(a) == (PeerView("B", 200.0, 0.7), PeerView("C", 0.0, None))
    assert p.peers(c) == (PeerView("A", 100.0, 0.5), PeerView("B", 200.0, 0.7))
    solo = Portfolio(0.0, [])
    solo.add(a)
    assert solo.peers(a) == ()


# -- configuration --------------------------------------------------------------------------------

def test_venue_max_age_s_from_the_config_reaches_the_options_book() -> None:
    from pydantic import ValidationError

    from bot.config import Config, PortfolioConfig
    from bot.core.options_book import VENUE_MAX_AGE_S
    from bot.venues.base import PositionDeltaUpdate
    from bot.wiring import build_portfolio
    from tests.integration.support import config_dict

    assert PortfolioConfig().venue_max_age_s == VENUE_MAX_AGE_S
    with pytest.raises(ValidationError):
        PortfolioConfig(venue_max_age_s=0)
    config = Config.model_validate({**config_dict("t"), "portfolio": {
        "greeks_source": "venue", "venue_max_age_s": 3,
        "options": [{"underlying": "BTC", "kind": "call", "strike": 60_000, "days_to_expiry": 30, "quantity": 2,
                     "iv": 0.5, "venue_symbol": "BTC-X-60000-C"}]}})
    portfolio = build_portfolio(config, NOW)
    computed = portfolio.options.greeks("BTC", 60_000.0, NOW).delta_coin
    portfolio.on_venue_position_delta(PositionDeltaUpdate("BTC-X-60000-C", 0.84, 2.0, NOW))
    assert portfolio.options.greeks("BTC", 60_000.0, NOW + 3).delta_coin == pytest.approx(0.84)   # 3 s: fresh
    assert portfolio.options.greeks("BTC", 60_000.0, NOW + 4).delta_coin == pytest.approx(computed, rel=1e-3)
    assert computed != pytest.approx(0.84, rel=0.05)


def test_a_perp_only_process_never_loads_numpy_or_scipy() -> None:
    """The Greeks engine (numpy, scipy: about 25 MB and a third of a second to import) is loaded
    only with options: the daemon, the CLI, a config with perps only and its portfolio do without."""
    code = """
import sys
from bot.cli import main
from bot.config import load_config
from bot.daemon import Daemon
from bot.wiring import build_portfolio
config = load_config("config/paper.yaml")
assert not config.portfolio.options
portfolio = build_portfolio(config, 0.0)
assert portfolio.options is None
loaded = sorted(m for m in ("numpy", "scipy") if m in sys.modules)
assert not loaded, loaded
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_portfolio_without_options_reports_zero_book_greeks() -> None:
    p = Portfolio(0.0, [])
    me = FakeMember("BTC-PERP", make_spec("BTC-PERP"), position=2.0)
    p.add(me)
    view = p.greeks(me, NOW)
    assert (view.delta_coin, view.gamma_coin, view.vega_usd_per_vol_point, view.theta_usd_per_day) == (0.0, 0.0, 0.0, 0.0)
    assert view.instrument_delta_coin == 1.0
