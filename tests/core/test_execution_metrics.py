"""Execution metrics of a parent order: shortfall sign convention, fees, opportunity cost,
maker share, completion and deadlines, summaries."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.execution_metrics import (
    ParentOrder, average_price, deadline_outcome, execution_report, is_done, percentile, summarize,
)
from bot.core.fees import fee
from bot.core.types import Fill, Side

from .support import spec

D = Decimal
SPEC = spec(maker_fee_bps=D("2"), taker_fee_bps=D("5"), tick_size=D("0.1"))


def parent(qty: str, mid: str = "100", start: float = 0.0, deadline: float | None = None, position: str = "0") -> ParentOrder:
    return ParentOrder("p1", "BTC-PERP", start, D(mid), D(position), D(position) + D(qty), deadline)


def fill(side: Side, price: str, size: str, liquidity: str = "maker", ts: float = 1.0, spec_=SPEC) -> Fill:
    p, s = D(price), D(size)
    return Fill("BTC-PERP", f"t{price}{size}{ts}", "c1", side, p, s, fee(spec_, s, p, liquidity), spec_.settle,
                liquidity, ts)


def report(p: ParentOrder, fills: list[Fill], *, actions: int = 1, end_ts: float = 10.0, end_mid: str | None = None,
           completed_ts: float | None = 5.0, spec_=SPEC):
    return execution_report(p, fills, spec_, order_actions=actions, end_ts=end_ts,
                            end_mid=D(end_mid) if end_mid else None, completed_ts=completed_ts)


def test_a_buy_above_the_arrival_mid_is_a_positive_cost() -> None:
    r = report(parent("2"), [fill(Side.BUY, "100.1", "1"), fill(Side.BUY, "100.3", "1")])
    assert r.avg_price == D("100.2")
    assert r.shortfall_bps == pytest.approx(20.0)  # 0.2 / 100
    assert r.fee_bps == pytest.approx(2.0 * 100.2 / 100)  # paid on the fill prices, over arrival notional
    assert r.total_cost_bps == pytest.approx(20.0 + 2.004)
    assert (r.side, r.filled, r.maker_share, r.fills, r.order_actions) == ("buy", D(2), 1.0, 2, 1)


def test_a_sell_below_the_arrival_mid_is_a_positive_cost_and_above_it_a_gain() -> None:
    worse = report(parent("-1"), [fill(Side.SELL, "99.9", "1", "taker")])
    assert worse.shortfall_bps == pytest.approx(10.0) and worse.fee_bps == pytest.approx(5.0 * 0.999)
    assert worse.total_cost_bps == pytest.approx(14.995) and worse.maker_share == 0.0
    better = report(parent("-1"), [fill(Side.SELL, "100.05", "1")])
    assert better.shortfall_bps == pytest.approx(-5.0)
    assert better.total_cost_bps == pytest.approx(-5.0 + 2.001)


def test_a_maker_rebate_is_a_negative_fee() -> None:
    rebate = spec(maker_fee_bps=D("-1"))
    r = report(parent("1"), [fill(Side.BUY, "100", "1", spec_=rebate)], spec_=rebate)
    assert r.fee_bps == pytest.approx(-1.0) and r.total_cost_bps == pytest.approx(-1.0)


def test_the_unfilled_part_costs_the_move_it_missed() -> None:
    r = report(parent("2"), [fill(Side.BUY, "100", "1")], end_mid="101", completed_ts=None)
    assert not r.completed and r.time_to_complete_s is None
    assert r.opportunity_bps == pytest.approx(100.0)
    # half filled at arrival for 2 bps of fees, half missed a 1 % rise
    assert r.total_cost_bps == pytest.approx(0.5 * 2.0 + 0.5 * 100.0)
    nothing = report(parent("-2"), [], end_mid="99", completed_ts=None)
    assert nothing.avg_price is None and nothing.shortfall_bps is None and nothing.maker_share is None
    assert nothing.total_cost_bps == pytest.approx(100.0)  # a sell that never sold while the price fell: a cost
    lucky = report(parent("-2"), [], end_mid="101", completed_ts=None)
    assert lucky.total_cost_bps == pytest.approx(-100.0)  # ... and while it rose: a gain


def test_a_fill_against_the_parent_counts_as_cost_and_reduces_the_filled_size() -> None:
    # buy 1: a late sell at 99.9 (an old order) then buys of 2 at 100 (1 + the 1 sold)
    r = report(parent("1"), [fill(Side.SELL, "99.9", "1"), fill(Side.BUY, "100", "2")])
    assert r.filled == D(1) and r.avg_price == D(100)
    # price cost: sold 1 at 0.1 below arrival (10 bp of 1 unit); fees on 3 units' notional ≈ 6 bp
    assert r.total_cost_bps == pytest.approx(10.0 + (99.9 + 200) * 2 / 100, rel=1e-9)


def test_inverse_contracts_use_coin_value_and_harmonic_average() -> None:
    inverse = spec(inverse=True, contract_size=D("100"), maker_fee_bps=D("2"))
    fills = [fill(Side.BUY, "100", "10", spec_=inverse), fill(Side.BUY, "125", "10", spec_=inverse)]
    assert average_price(fills, inverse) == pytest.approx(D("111.111111111"), rel=D("1e-9"))
    r = report(parent("20"), fills, spec_=inverse)
    # cost = Σ size × 100 × (p − a)/p = 10×100×0 + 10×100×0.2 = 200 USD over 2,000 USD notional
    assert r.shortfall_bps == pytest.approx(1000.0)
    # coin fees (10 + 8 coins of notional × 2 bp) valued at the arrival mid, over 2,000 USD
    assert r.fee_bps == pytest.approx(0.0036 * 100 / 2000 * 10_000)


@pytest.mark.parametrize(
    "deadline, completed, end, expected",
    [(None, 5.0, 10.0, None), (6.0, 5.0, 10.0, True), (4.0, 5.0, 10.0, False), (8.0, None, 10.0, False),
     (12.0, None, 10.0, None)],
)
def test_deadline_outcome(deadline, completed, end, expected) -> None:
    assert deadline_outcome(deadline, completed, end) is expected
    r = report(parent("1", deadline=deadline), [fill(Side.BUY, "100", "1")], completed_ts=completed, end_ts=end)
    assert r.deadline_met is expected


@pytest.mark.parametrize(
    "remaining, price, min_notional, done",
    [("0", "100", "0", True), ("0.0009", "100", "0", True), ("0.001", "100", "0", False),
     ("-0.001", "100", "0", False), ("0.5", "100", "100", True), ("0.5", "300", "100", False)],
)
def test_is_done_below_the_smallest_order_the_venue_takes(remaining, price, min_notional, done) -> None:
    assert is_done(spec(min_notional=D(min_notional)), D(remaining), D(price)) is done


def test_summary_statistics() -> None:
    reports = [
        report(parent("1"), [fill(Side.BUY, "100", "1")], actions=2),  # 2 bp, maker
        report(parent("1"), [fill(Side.BUY, "100.1", "1", "taker")], actions=4),  # 15 bp, taker
        report(parent("1", deadline=1.0), [], completed_ts=None, end_mid="100.2", actions=6),  # 20 bp missed
    ]
    s = summarize(reports)
    assert s["parents"] == 3 and s["completed"] == 2
    costs = [2.0, 10.0 + 5 * 1.001, 20.0]
    assert s["cost_bps_mean"] == pytest.approx(sum(costs) / 3)
    assert s["cost_bps_p50"] == pytest.approx(costs[1])
    assert s["cost_bps_p90"] == pytest.approx(costs[1] + 0.8 * (20 - costs[1]))
    assert s["maker_share"] == pytest.approx(0.5)
    assert (s["deadlines"], s["deadlines_met"]) == (1, 0)
    assert s["order_actions_per_parent"] == pytest.approx(4.0)
    assert summarize([])["cost_bps_mean"] is None


def test_percentile_interpolates() -> None:
    assert percentile([], 0.9) is None
    assert percentile([3.0], 0.9) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.9) == pytest.approx(4.6)


@settings(max_examples=200, deadline=None)
@given(prices=st.lists(st.integers(-50, 50), min_size=1, max_size=6),
       sizes=st.lists(st.integers(1, 30), min_size=6, max_size=6),
       taker=st.lists(st.booleans(), min_size=6, max_size=6))
def test_mirrored_buy_and_sell_cost_the_same(prices, sizes, taker) -> None:
    """A buy filled at mid + x costs what a sell filled at mid − x costs; for a completed parent
    the total is the price shortfall plus the fees."""
    buys, sells = [], []
    for x, n, t in zip(prices, sizes, taker):
        liquidity = "taker" if t else "maker"
        buys.append(fill(Side.BUY, str(D(1000) + D(x) / 10), str(D(n) / 1000), liquidity))
        sells.append(fill(Side.SELL, str(D(1000) - D(x) / 10), str(D(n) / 1000), liquidity))
    qty = sum((f.size for f in buys), D(0))
    b = report(parent(str(qty), mid="1000"), buys)
    s = report(parent(str(-qty), mid="1000"), sells)
    assert b.shortfall_bps == pytest.approx(s.shortfall_bps, abs=1e-9)
    assert b.total_cost_bps == pytest.approx(b.shortfall_bps + b.fee_bps, abs=1e-9)
    assert s.total_cost_bps == pytest.approx(s.shortfall_bps + s.fee_bps, abs=1e-9)
    assert 2.0 * 0.99 <= b.fee_bps <= 5.0 * 1.01
    assert b.maker_share == s.maker_share
