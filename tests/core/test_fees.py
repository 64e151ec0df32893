"""Fees in the settlement currency: quote for linear, coin for inverse; a maker rebate is negative."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core.fees import fee

from .support import spec

D = Decimal
LINEAR = spec(contract_size=D("0.001"), maker_fee_bps=D("-2.5"), taker_fee_bps=D("5"))
INVERSE = spec(contract_size=D("100"), inverse=True, maker_fee_bps=D("-2.5"), taker_fee_bps=D("5"))


@pytest.mark.parametrize(
    "instrument, size, price, notional",
    [
        (LINEAR, "2000", "50000", "100000"),  # 2000 × 0.001 BTC × 50 000 USD
        (LINEAR, "-2000", "50000", "100000"),  # notional is unsigned
        (INVERSE, "1000", "50000", "2"),  # 1000 × 100 USD / 50 000 = 2 BTC
        (INVERSE, "-1000", "40000", "2.5"),
    ],
)
def test_notional_linear_vs_inverse(instrument, size: str, price: str, notional: str) -> None:
    assert instrument.notional(D(size), D(price)) == D(notional)


@pytest.mark.parametrize(
    "instrument, liquidity, expected, currency",
    [
        (LINEAR, "maker", "-25", "USD"),  # 100 000 USD × -2.5 bp: a rebate
        (LINEAR, "taker", "50", "USD"),
        (INVERSE, "maker", "-0.0005", "BTC"),  # 2 BTC × -2.5 bp
        (INVERSE, "taker", "0.001", "BTC"),
    ],
)
def test_fee_sign_and_currency(instrument, liquidity: str, expected: str, currency: str) -> None:
    size = D("2000") if instrument is LINEAR else D("1000")
    assert fee(instrument, size, D("50000"), liquidity) == D(expected)
    assert instrument.settle == currency


def test_coin_exposure_is_signed() -> None:
    assert LINEAR.coin_exposure(D("-2000"), D("50000")) == D("-2")
    assert INVERSE.coin_exposure(D("-1000"), D("50000")) == D("-2")
