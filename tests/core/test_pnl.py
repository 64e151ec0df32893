"""P&L record from fills: average entry, realised P&L, fees and round trips (linear and inverse)."""

from __future__ import annotations

from decimal import Decimal
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import pnl
from bot.core.pnl import MAX_ROUND_TRIPS, PnlBook, apply_fill, view
from bot.core.types import Fill, Side

from .support import spec

D = Decimal
LINEAR = spec()  # contract_size 1 coin, settles in USD
LINEAR_SMALL = spec(contract_size=D("0.001"))
INVERSE = spec(symbol="BTC-USD-INV", contract_size=D("10"), inverse=True)  # 10 USD per contract, settles in BTC


def fill(signed: str | int, price: str | int, fee: str | int = "0", ts: float = 1000.0,
         fee_currency: str = "USD") -> Fill:
    size = D(signed)
    return Fill("X", f"t{ts}", "o", Side.of(size), D(price), abs(size), D(fee), fee_currency, "maker", ts)


def run(instrument, fills: list[Fill], book: PnlBook | None = None,
        position: Decimal = D(0)) -> tuple[PnlBook, Decimal]:
    book = book or PnlBook()
    for f in fills:
        book = apply_fill(book, position, f, instrument)
        position += f.signed_size
    return book, position


# -- linear ---------------------------------------------------------------------------------------

def test_adds_average_the_entry_and_closing_realises_one_round_trip() -> None:
    book, pos = run(LINEAR, [fill(1, 100, "0.1"), fill(1, 110, "0.1")])
    assert pos == 2 and book.avg_entry_price == D(105)
    assert book.realized_pnl_usd == 0.0 and book.closed_trade_pnls_usd == ()
    book, pos = run(LINEAR, [fill(-2, 120, "0.2")], book, pos)
    assert pos == 0
    assert book.realized_pnl_usd == pytest.approx(30.0)
    assert book.fees_usd == pytest.approx(0.4)
    assert book.closed_trade_pnls_usd == pytest.approx((29.6,))
    assert book.avg_entry_price is None
    assert book.open_trip_pnl_usd == 0.0


def test_short_round_trip_profits_when_price_falls() -> None:
    book, pos = run(LINEAR, [fill(-2, 100), fill(2, 90)])
    assert pos == 0
    assert book.realized_pnl_usd == pytest.approx(20.0)
    assert book.closed_trade_pnls_usd == pytest.approx((20.0,))


def test_contract_size_scales_linear_pnl() -> None:
    # 1000 contracts x 0.001 BTC = 1 BTC, +1000 USD per BTC
    book, _ = run(LINEAR_SMALL, [fill(1000, 50000), fill(-1000, 51000)])
    assert book.realized_pnl_usd == pytest.approx(1000.0)


def test_linear_fee_is_taken_as_is_and_a_rebate_adds_to_the_trip() -> None:
    book, _ = run(LINEAR, [fill(1, 100, "0.5"), fill(-1, 101, "-0.25")])
    assert book.fees_usd == pytest.approx(0.25)
    assert book.realized_pnl_usd == pytest.approx(1.0)  # realised is gross of fees
    assert book.closed_trade_pnls_usd == pytest.approx((0.75,))


def test_flip_through_zero_closes_the_trip_and_opens_at_the_fill_price() -> None:
    book, pos = run(LINEAR, [fill(1, 100, "0.1"), fill(-3, 90, "0.3")])
    assert pos == -2
    assert book.realized_pnl_usd == pytest.approx(-10.0)
    assert book.closed_trade_pnls_usd == pytest.approx((-10.4,))
    assert book.avg_entry_price == D(90)
    assert book.open_trip_pnl_usd == 0.0
    # the new short trip: cover at 80 → +20
    book, pos = run(LINEAR, [fill(2, 80, "0.2")], book, pos)
    assert pos == 0 and book.avg_entry_price is None
    assert book.realized_pnl_usd == pytest.approx(10.0)
    assert book.closed_trade_pnls_usd == pytest.approx((-10.4, 19.8))


def test_partial_reduce_keeps_the_entry_and_the_trip_open() -> None:
    book, pos = run(LINEAR, [fill(2, 100, "0.1"), fill(2, 110, "0.1"), fill(-1, 120, "0.1")])
    assert pos == 3
    assert book.avg_entry_price == D(105)
    assert book.realized_pnl_usd == pytest.approx(15.0)
    assert book.closed_trade_pnls_usd == ()
    assert book.open_trip_pnl_usd == pytest.approx(15.0 - 0.3)


def test_exact_close_then_reopen_starts_a_fresh_entry() -> None:
    book, pos = run(LINEAR, [fill(1, 100), fill(-1, 110), fill(-1, 200)])
    assert pos == -1
    assert book.avg_entry_price == D(200)
    assert book.closed_trade_pnls_usd == pytest.approx((10.0,))


def test_last_fill_price_and_ts() -> None:
    book, _ = run(LINEAR, [fill(1, 100, ts=10.0), fill(-1, 101, ts=20.5)])
    assert book.last_fill_price == D(101) and book.last_fill_ts == 20.5


def test_round_trips_keep_only_the_most_recent() -> None:
    fills = []
    for i in range(MAX_ROUND_TRIPS + 5):
        fills += [fill(1, 100), fill(-1, 100 + i)]  # trip i makes i USD
    book, pos = run(LINEAR, fills)
    assert pos == 0
    assert len(book.closed_trade_pnls_usd) == MAX_ROUND_TRIPS
    assert book.closed_trade_pnls_usd == pytest.approx(tuple(float(i) for i in range(5, MAX_ROUND_TRIPS + 5)))


def test_view_unrealised_at_the_mark() -> None:
    book, pos = run(LINEAR, [fill(1, 100, "0.1", ts=5.0), fill(1, 110, "0.1", ts=6.0)])
    v = view(book, pos, LINEAR, D(115))
    assert v.unrealized_pnl_usd == pytest.approx(20.0)
    assert v.avg_entry_price == D(105)
    assert v.fees_usd == pytest.approx(0.2)
    assert v.realized_pnl_usd == 0.0
    assert v.last_fill_price == D(110) and v.last_fill_ts == 6.0
    assert view(book, pos, LINEAR, D(95)).unrealized_pnl_usd == pytest.approx(-20.0)


def test_view_short_unrealised_and_contract_size() -> None:
    book, pos = run(LINEAR_SMALL, [fill(-2000, 50000)])
    assert view(book, pos, LINEAR_SMALL, D(49000)).unrealized_pnl_usd == pytest.approx(2000.0)


def test_view_unrealised_is_zero_when_flat_or_without_a_mark() -> None:
    book, pos = run(LINEAR, [fill(1, 100), fill(-1, 110, ts=7.0)])
    flat = view(book, pos, LINEAR, D(500))
    assert flat.unrealized_pnl_usd == 0.0
    assert flat.realized_pnl_usd == pytest.approx(10.0)
    assert flat.closed_trade_pnls_usd == pytest.approx((10.0,))
    assert flat.avg_entry_price is None
    open_book, open_pos = run(LINEAR, [fill(1, 100)])
    assert view(open_book, open_pos, LINEAR, None).unrealized_pnl_usd == 0.0
    assert view(PnlBook(), D(0), LINEAR, D(100)).unrealized_pnl_usd == 0.0


# -- inverse --------------------------------------------------------------------------------------

def test_inverse_long_round_trip_in_coin_converted_at_the_exit() -> None:
    book, pos = run(INVERSE, [fill(1000, 50000), fill(-1000, 55000)])
    coins = 1000 * 10 * (D(1) / 50000 - D(1) / 55000)
    assert pos == 0
    assert book.realized_pnl_usd == pytest.approx(float(coins * 55000))
    assert book.realized_pnl_usd == pytest.approx(1000.0)  # 10 000 USD x (55000/50000 - 1)
    assert book.closed_trade_pnls_usd == pytest.approx((1000.0,))


def test_inverse_short_round_trip() -> None:
    book, _ = run(INVERSE, [fill(-1000, 50000), fill(1000, 40000)])
    coins = -1000 * 10 * (1 / 50000 - 1 / 40000)  # +0.05 BTC
    assert book.realized_pnl_usd == pytest.approx(coins * 40000)
    assert book.realized_pnl_usd == pytest.approx(2000.0)


def test_inverse_entry_is_the_harmonic_mean_and_keeps_coin_pnl_exact() -> None:
    book, pos = run(INVERSE, [fill(1000, 50000), fill(3000, 60000)])
    harmonic = D(4000) / (D(1000) / 50000 + D(3000) / 60000)
    assert book.avg_entry_price == pytest.approx(harmonic, rel=D("1e-20"))
    assert float(book.avg_entry_price) != pytest.approx(57500.0)  # not the arithmetic mean
    book, pos = run(INVERSE, [fill(-4000, 55000)], book, pos)
    legs = 1000 * 10 * (1 / 50000 - 1 / 55000) + 3000 * 10 * (1 / 60000 - 1 / 55000)
    assert book.realized_pnl_usd == pytest.approx(legs * 55000, rel=1e-12)


def test_inverse_partial_close_realises_at_that_fill() -> None:
    book, pos = run(INVERSE, [fill(1000, 50000), fill(-400, 55000)])
    assert pos == 600 and book.avg_entry_price == D(50000)
    assert book.realized_pnl_usd == pytest.approx(400 * 10 * (1 / 50000 - 1 / 55000) * 55000)


def test_inverse_fee_in_coin_is_converted_at_the_fill_price() -> None:
    book, _ = run(INVERSE, [fill(1000, 50000, "0.0001", fee_currency="BTC"),
                            fill(-1000, 55000, "-0.0002", fee_currency="BTC")])
    assert book.fees_usd == pytest.approx(0.0001 * 50000 - 0.0002 * 55000)  # 5 - 11 = -6 USD
    assert book.closed_trade_pnls_usd == pytest.approx((1000.0 + 6.0,))


def test_inverse_view_unrealised_is_converted_at_the_mark() -> None:
    book, pos = run(INVERSE, [fill(1000, 50000)])
    expected = 1000 * 10 * (1 / 50000 - 1 / 45000) * 45000  # a loss
    assert view(book, pos, INVERSE, D(45000)).unrealized_pnl_usd == pytest.approx(expected)
    assert expected < 0


def test_inverse_flip_opens_the_new_side_at_the_fill_price() -> None:
    book, pos = run(INVERSE, [fill(1000, 50000), fill(-3000, 40000)])
    assert pos == -2000 and book.avg_entry_price == D(40000)
    assert book.realized_pnl_usd == pytest.approx(1000 * 10 * (1 / 50000 - 1 / 40000) * 40000)
    assert len(book.closed_trade_pnls_usd) == 1


# -- random fill sequences ------------------------------------------------------------------------

@st.composite
def flat_histories(draw):
    """A linear contract size and fills (signed contracts, price, fee) that end flat."""
    contract_size = draw(st.sampled_from([D(1), D("0.001"), D(10)]))
    steps = draw(st.lists(st.tuples(st.integers(-5, 5).filter(bool), st.integers(500, 1500),
                                    st.integers(-20, 50)), min_size=1, max_size=40))
    fills = [fill(s, D(p) / 10, D(f) / 100, ts=float(i)) for i, (s, p, f) in enumerate(steps)]
    position = sum(f.signed_size for f in fills)
    if position != 0:
        fills.append(fill(-position, D(draw(st.integers(500, 1500))) / 10, "0.01", ts=float(len(fills))))
    return spec(contract_size=contract_size), fills


@settings(max_examples=200, deadline=None)
@given(flat_histories())
def test_flat_history_cash_flow_identity_and_trip_sum(case) -> None:
    instrument, fills = case
    book, position = PnlBook(), D(0)
    for f in fills:
        book = apply_fill(book, position, f, instrument)
        position += f.signed_size
        assert (book.avg_entry_price is None) == (position == 0)
        assert len(book.closed_trade_pnls_usd) <= MAX_ROUND_TRIPS
    assert position == 0
    cash = sum(float(-f.signed_size * f.price * instrument.contract_size) for f in fills)
    fees = sum(float(f.fee) for f in fills)
    assert book.realized_pnl_usd == pytest.approx(cash, abs=1e-6)
    assert book.fees_usd == pytest.approx(fees, abs=1e-9)
    assert book.open_trip_pnl_usd == pytest.approx(0.0, abs=1e-9)
    assert sum(book.closed_trade_pnls_usd) == pytest.approx(book.realized_pnl_usd - book.fees_usd, abs=1e-6)
    assert len(book.closed_trade_pnls_usd) >= 1


@settings(max_examples=100, deadline=None)
@given(flat_histories())
def test_capped_round_trips_are_the_most_recent_of_the_uncapped_list(case) -> None:
    instrument, fills = case
    full, _ = run(instrument, fills)
    with mock.patch.object(pnl, "MAX_ROUND_TRIPS", 2):
        capped, _ = run(instrument, fills)
    assert len(capped.closed_trade_pnls_usd) <= 2
    assert capped.closed_trade_pnls_usd == full.closed_trade_pnls_usd[-2:]
    assert capped.realized_pnl_usd == full.realized_pnl_usd


@st.composite
def inverse_flat_histories(draw):
    """Fills (signed contracts, price in USD, coin fee) on a 10-USD inverse contract, ending flat."""
    steps = draw(st.lists(st.tuples(st.integers(-50, 50).filter(bool), st.integers(20_000, 80_000),
                                    st.integers(-2, 5)), min_size=1, max_size=30))
    fills = [fill(s, p, D(f) / 100_000, ts=float(i), fee_currency="BTC") for i, (s, p, f) in enumerate(steps)]
    position = sum(f.signed_size for f in fills)
    if position != 0:
        fills.append(fill(-position, draw(st.integers(20_000, 80_000)), "0", ts=float(len(fills)),
                          fee_currency="BTC"))
    return fills


@settings(max_examples=200, deadline=None)
@given(inverse_flat_histories())
def test_inverse_coin_pnl_equals_coin_cash_flows(fills) -> None:
    """Each fill's realised USD divided by its price is its coin P&L; ending flat, their sum is the
    coin cash flow sum(signed contracts x 10 USD / price) -- exact only with the harmonic entry."""
    book, position, coin_pnl = PnlBook(), D(0), 0.0
    for f in fills:
        after = apply_fill(book, position, f, INVERSE)
        coin_pnl += (after.realized_pnl_usd - book.realized_pnl_usd) / float(f.price)
        book, position = after, position + f.signed_size
        assert (book.avg_entry_price is None) == (position == 0)
    cash = sum(float(f.signed_size * INVERSE.contract_size / f.price) for f in fills)
    assert coin_pnl == pytest.approx(cash, rel=1e-9, abs=1e-12)
    assert book.fees_usd == pytest.approx(sum(float(f.fee * f.price) for f in fills), abs=1e-9)
    assert sum(book.closed_trade_pnls_usd) == pytest.approx(book.realized_pnl_usd - book.fees_usd, abs=1e-6)
