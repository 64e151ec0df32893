"""The passive fill rule: queue ahead first, through-trades fill, touching never fills."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.fill_model import QueuedOrder, apply_displayed_size, apply_trade
from bot.core.types import Side, Trade

from .support import trade

D = Decimal


def resting(side: Side = Side.BUY, price: str = "100", remaining: str = "2", queue_ahead: str = "3") -> QueuedOrder:
    return QueuedOrder("o1", side, D(price), D(remaining), D(queue_ahead))


def run(order: QueuedOrder, trades: list[Trade]) -> tuple[QueuedOrder, list[Decimal]]:
    fills = []
    for t in trades:
        order, filled = apply_trade(order, t)
        fills.append(filled)
    return order, fills


def test_queue_ahead_is_consumed_before_any_fill() -> None:
    order, fills = run(resting(), [trade("100", "2", Side.SELL), trade("100", "2", Side.SELL)])
    assert fills == [D(0), D(1)]  # 2 of the 3 ahead, then the last 1 ahead and 1 of ours
    assert order.queue_ahead == 0 and order.remaining == 1


def test_touch_without_exhausting_queue_does_not_fill() -> None:
    order, fills = run(resting(), [trade("100", "3", Side.SELL)])  # exactly the queue ahead
    assert fills == [D(0)]
    assert order.remaining == 2 and order.queue_ahead == 0


@pytest.mark.parametrize(
    "side, price, size, filled",
    [
        (Side.BUY, "99.5", "1.5", "1.5"),  # a sell printing below our bid
        (Side.BUY, "99", "5", "2"),  # capped at our remaining
        (Side.SELL, "101", "0.4", "0.4"),  # a buy printing above our ask
    ],
)
def test_trade_through_fills_up_to_trade_size_despite_queue(side: Side, price: str, size: str, filled: str) -> None:
    order, fill = apply_trade(resting(side=side, price="100" if side is Side.BUY else "100.5"),
                              trade(price, size, side.opposite))
    assert fill == D(filled)
    assert order.remaining == D(2) - D(filled)


@pytest.mark.parametrize("price", ["99", "100", "101"])
def test_same_side_aggressor_never_fills(price: str) -> None:
    order = resting(queue_ahead="0")
    after, fill = apply_trade(order, trade(price, "10", Side.BUY))
    assert fill == 0 and after == order


@pytest.mark.parametrize("side, price", [(Side.BUY, "100.5"), (Side.SELL, "99.5")])
def test_trade_on_the_far_side_of_our_price_does_nothing(side: Side, price: str) -> None:
    order = resting(side=side, queue_ahead="0")
    assert apply_trade(order, trade(price, "10", side.opposite)) == (order, 0)


def test_filled_order_never_fills_again() -> None:
    order = resting(remaining="0", queue_ahead="0")
    assert apply_trade(order, trade("99", "10", Side.SELL)) == (order, 0)


@pytest.mark.parametrize("displayed, expected", [("2", "2"), ("3", "3"), ("7", "3"), ("0", "0"), ("-1", "0")])
def test_displayed_size_only_shortens_queue_ahead(displayed: str, expected: str) -> None:
    assert apply_displayed_size(resting(queue_ahead="3"), D(displayed)).queue_ahead == D(expected)


def test_shrunk_queue_lets_a_smaller_trade_fill() -> None:
    order = apply_displayed_size(resting(queue_ahead="3"), D("1"))
    _, fill = apply_trade(order, trade("100", "2", Side.SELL))
    assert fill == 1


# -- invariants over random trade sequences -----------------------------------------------------

sizes = st.integers(1, 40).map(lambda n: D(n) / 10)
trades = st.lists(
    st.builds(lambda p, s, a: trade(p, str(s), a), st.sampled_from(["99.5", "100", "100.5"]), sizes,
              st.sampled_from(list(Side))),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(side=st.sampled_from(list(Side)), remaining=sizes, queue=st.integers(0, 50).map(lambda n: D(n) / 10),
       prints=trades)
def test_fills_bounded_by_size_and_by_volume_past_the_queue(side, remaining, queue, prints) -> None:
    """Proven bound: total filled ≤ min(size, through volume + max(0, volume at price − queue ahead)),
    counting only the other side's aggressors; with only at-price prints it is an equality."""
    order, fills = run(QueuedOrder("o", side, D("100"), remaining, queue), prints)
    against = [t for t in prints if t.aggressor is not side]
    at_price = sum((t.size for t in against if t.price == 100), D(0))
    through = sum((t.size for t in against if (t.price - 100) * side.sign < 0), D(0))

    assert all(f >= 0 for f in fills)
    assert order.remaining >= 0 and order.queue_ahead >= 0
    assert sum(fills) == remaining - order.remaining
    assert sum(fills) <= min(remaining, through + max(D(0), at_price - queue))
    if through == 0:
        assert sum(fills) == min(remaining, max(D(0), at_price - queue))


@settings(max_examples=200, deadline=None)
@given(remaining=sizes, queue=st.integers(0, 50).map(lambda n: D(n) / 10), prints=trades,
       shown=st.lists(st.integers(0, 60).map(lambda n: D(n) / 10), min_size=25, max_size=25))
def test_queue_never_grows_and_at_price_fills_only_once_queue_is_empty(remaining, queue, prints, shown) -> None:
    order = QueuedOrder("o", Side.BUY, D("100"), remaining, queue)
    for t, displayed in zip(prints, shown):
        queue_before = order.queue_ahead
        order, fill = apply_trade(order, t)
        assert order.queue_ahead <= queue_before
        if fill > 0 and t.price == 100:
            assert order.queue_ahead == 0
        queue_before = order.queue_ahead
        order = apply_displayed_size(order, displayed)
        assert order.queue_ahead == min(queue_before, displayed)
    assert 0 <= order.remaining <= remaining


# -- probabilistic queue, shared prints, crossing, taking -----------------------------------------

from bot.core.fill_model import (  # noqa: E402
    QueueModel, apply_cross, crossing_size, join_queue, take_liquidity,
)
from bot.core.types import Level  # noqa: E402

POWER2 = QueueModel("power", 2.0)


def test_join_queue_starts_behind_the_displayed_size() -> None:
    order = join_queue("o", Side.BUY, D("100"), D("1"), D("4"))
    assert (order.queue_ahead, order.level_size, order.traded_since, order.remaining) == (D(4), D(4), D(0), D(1))


def test_conservative_model_credits_no_cancels_while_behind_is_large_enough() -> None:
    order = join_queue("o", Side.BUY, D("100"), D("1"), D("4"))  # 4 ahead, 0 behind
    grown = apply_displayed_size(order, D("10"))  # 6 joined behind us
    shrunk = apply_displayed_size(grown, D("7"))  # 3 cancelled: all from behind
    assert shrunk.queue_ahead == 4
    assert apply_displayed_size(shrunk, D("3")).queue_ahead == 3  # cannot exceed what is displayed


def test_power_model_splits_cancels_by_size_ahead_and_behind() -> None:
    """4 ahead, 6 behind, 5 cancelled: P(behind) = 36/52; ahead loses (1 - 36/52) × 5 = 1.538…,
    rounded up to the 0.001 lot: 2.462 ahead (hftbacktest's ProbQueueModel with f(x) = x²)."""
    order = apply_displayed_size(join_queue("o", Side.BUY, D("100"), D("1"), D("4")), D("10"))
    after = apply_displayed_size(order, D("5"), POWER2, step=D("0.001"))
    assert after.queue_ahead == D("2.462")
    assert after.level_size == 5


def test_log_model_and_cancels_beyond_the_size_behind() -> None:
    order = apply_displayed_size(join_queue("o", Side.BUY, D("100"), D("1"), D("4")), D("5"))  # 4 ahead, 1 behind
    # 3 cancelled; behind can give at most 1, so at least 2 came from ahead whatever the split
    for model in (QueueModel("log"), POWER2, QueueModel("power", 8.0)):
        assert apply_displayed_size(order, D("2"), model).queue_ahead <= 2
    p = QueueModel("log").p_from_behind(4.0, 1.0)
    assert p == pytest.approx(math.log(2) / (math.log(2) + math.log(5)))


def test_trades_are_not_counted_again_as_cancels() -> None:
    """The level drops from 10 to 7 because 3 traded there: that is no cancel, the queue ahead
    already moved by the trade (4 → 1) and stays there."""
    order = apply_displayed_size(join_queue("o", Side.BUY, D("100"), D("1"), D("4")), D("10"))
    order, filled = apply_trade(order, trade("100", "3", Side.SELL))
    assert filled == 0 and order.queue_ahead == 1 and order.traded_since == 3
    after = apply_displayed_size(order, D("7"), POWER2)
    assert after.queue_ahead == 1 and after.traded_since == 0


def test_an_unchanged_level_is_no_event() -> None:
    order = apply_displayed_size(join_queue("o", Side.BUY, D("100"), D("1"), D("4")), D("10"))
    order, _ = apply_trade(order, trade("100", "3", Side.SELL))
    assert apply_displayed_size(order, D("10"), POWER2) == order  # depth not updated yet: keep the trade tally


@settings(max_examples=300, deadline=None)
@given(ahead=st.integers(0, 60), behind=st.integers(0, 60), new=st.integers(0, 150), traded=st.integers(0, 30),
       n=st.sampled_from([0.5, 1.0, 2.0, 3.0]))
def test_probabilistic_queue_never_grows_and_never_beats_the_conservative_one(ahead, behind, new, traded, n) -> None:
    base = apply_displayed_size(join_queue("o", Side.BUY, D("100"), D("1"), D(ahead)), D(ahead + behind))
    base, _ = apply_trade(base, trade("100", str(min(traded, ahead)), Side.SELL))
    conservative = apply_displayed_size(base, D(new))
    for model in (QueueModel("power", n), QueueModel("log")):
        estimate = apply_displayed_size(base, D(new), model, step=D(1))
        assert 0 <= estimate.queue_ahead <= conservative.queue_ahead <= base.queue_ahead
        assert estimate.queue_ahead <= new


def test_our_orders_share_one_print_in_priority_order() -> None:
    first = join_queue("a", Side.BUY, D("100"), D("1"), D("2"))
    second = join_queue("b", Side.BUY, D("100"), D("1"), D("2"))  # joined later, same queue of others
    print_ = trade("100", "3.5", Side.SELL)
    first, f1 = apply_trade(first, print_)
    second, f2 = apply_trade(second, print_, available=print_.size - f1)
    assert (f1, f2) == (D(1), D("0.5"))  # 2 others, then a, then b gets what is left
    assert second.traded_since == D("3.5")  # the level lost the whole print


def test_a_crossing_book_fills_only_fresh_size() -> None:
    order = join_queue("o", Side.BUY, D("100"), D("2"), D("1"))
    asks = (Level(D("99.5"), D("0.5")), Level(D("100"), D("0.7")), Level(D("100.5"), D("9")))
    assert crossing_size(Side.BUY, D("100"), asks) == D("1.2")
    order, filled = apply_cross(order, D("1.2"))
    assert filled == D("1.2") and order.remaining == D("0.8")
    order, filled = apply_cross(order, D("1.2"))  # the same recorded asks again: nothing new
    assert filled == 0
    order, filled = apply_cross(order, D("1.5"), taken=D("0.1"))  # 0.3 more, 0.1 went to ours ahead
    assert filled == D("0.2")


def test_take_liquidity_walks_levels_up_to_the_limit() -> None:
    asks = (Level(D("101"), D("1")), Level(D("101.5"), D("2")), Level(D("102"), D("5")))
    assert take_liquidity(Side.BUY, D("101.5"), D("5"), asks) == [(D("101"), D("1")), (D("101.5"), D("2"))]
    assert take_liquidity(Side.BUY, D("102"), D("1.5"), asks) == [(D("101"), D("1")), (D("101.5"), D("0.5"))]
    bids = (Level(D("100"), D("1")), Level(D("99"), D("1")))
    assert take_liquidity(Side.SELL, D("99.5"), D("3"), bids) == [(D("100"), D("1"))]
    assert take_liquidity(Side.SELL, D("101"), D("3"), bids) == []
