"""The passive fill rule: queue ahead first, through-trades fill, touching never fills."""

from __future__ import annotations

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
