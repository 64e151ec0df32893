"""Pre-trade limits: each one just inside (passes) and just outside (rejected, named)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core.risk import AccountLimits, OrderCheck, RiskLimits, check_account, check_order
from bot.core.types import AccountView, GreeksView

from .support import book, spec

D = Decimal
LIMITS = RiskLimits(max_position=D("10"), max_order_size=D("2"), stale_after_s=2.0, price_band_bps=D("50"),
                    max_notional_usd=D("1000"), max_working_orders=3, max_abs_delta_coin=12.0)
BOOK = book(bids=(("99.5", "1"),), asks=(("100.5", "1"),), ts=1000.0)  # mid 100: 50 bp = 0.5


def check(book=BOOK, position="0", working="0", size="1", price="100", now=1000.5, live=0, greeks=GreeksView(),
          is_new=True, instrument=spec(min_notional=D("5"))):
    order = OrderCheck(spec=instrument, book=book, position=D(position), working_same_side=D(working),
                       signed_size=D(size), price=D(price), now=now, live_orders=live, greeks=greeks, is_new=is_new)
    return check_order(LIMITS, order)


@pytest.mark.parametrize(
    "overrides, broken",
    [
        (dict(now=1002.0), None),
        (dict(now=1002.01), "stale_after_s"),
        (dict(size="2"), None),
        (dict(size="2.001"), "max_order_size"),
        (dict(size="-2.001"), "max_order_size"),
        (dict(size="0.05"), None),  # 5 USD notional: exactly the minimum
        (dict(size="0.049"), "min_size"),
        (dict(size="0.049", is_new=False), None),  # a partly filled remainder may still be repriced
        (dict(live=2), None),
        (dict(live=3), "max_working_orders"),
        (dict(position="7", working="1", size="2"), None),
        (dict(position="7", working="1.001", size="2"), "max_position"),
        (dict(position="-7", working="-1", size="-2"), None),
        (dict(position="-7", working="-1.001", size="-2"), "max_position"),
        (dict(position="11", working="0", size="-1", instrument=spec(contract_size=D("0.1"))), None),
        (dict(price="100.5"), None),
        (dict(price="100.51"), "price_band_bps"),
        (dict(price="99.5"), None),
        (dict(price="99.49"), "price_band_bps"),
        (dict(book=None), "market_data"),
        (dict(book=book(asks=(), ts=1000.0)), "market_data"),
    ],
)
def test_each_limit_just_inside_and_just_outside(overrides: dict, broken: str | None) -> None:
    rejection = check(**overrides)
    assert (rejection and rejection.limit) == broken


def test_notional_limit_in_usd() -> None:
    # 10 coins at mid 100 = 1000 USD: at the limit; one more lot is over
    assert check(position="9", size="1") is None
    rejection = check(position="9", size="1.001")
    assert rejection is not None and rejection.limit in {"max_position", "max_notional_usd"}
    assert check(position="8", working="1", size="1.5", instrument=spec(contract_size=D("1"))).limit == "max_position"


def test_rejection_names_limit_and_actual_value() -> None:
    rejection = check(position="9", working="0.5", size="1")
    assert (rejection.limit, rejection.limit_value, rejection.actual) == ("max_position", "10", "10.5")


@pytest.mark.parametrize(
    "book_delta, size, broken",
    [
        (10.0, "2", None),           # 12 coins after: at the limit
        (11.5, "1", "max_abs_delta_coin"),
        (20.0, "-1", None),          # beyond the limit but the order reduces |delta|
        (-20.0, "-1", "max_abs_delta_coin"),
    ],
)
def test_portfolio_delta_after_the_fill(book_delta: float, size: str, broken: str | None) -> None:
    rejection = check(size=size, greeks=GreeksView(delta_coin=book_delta, instrument_delta_coin=1.0),
                      instrument=spec(min_notional=D("0")), price="100")
    assert (rejection and rejection.limit) == broken


@pytest.mark.parametrize(
    "equity, peak, day_start, broken",
    [
        (9_000.0, 10_000.0, 10_000.0, None),            # 1000 lost: at the daily limit
        (8_999.0, 10_000.0, 10_000.0, "max_daily_loss_usd"),
        (8_100.0, 9_000.0, 8_200.0, None),              # 10 % below the peak: at the limit
        (8_099.0, 9_000.0, 8_100.0, "max_drawdown_fraction"),
    ],
)
def test_account_limits(equity: float, peak: float, day_start: float, broken: str | None) -> None:
    limits = AccountLimits(max_daily_loss_usd=1000.0, max_drawdown_fraction=0.1)
    rejection = check_account(limits, AccountView(equity, peak, day_start))
    assert (rejection and rejection.limit) == broken
