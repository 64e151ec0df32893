"""The order state machine: forward-only, terminal states sticky, filled monotone."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.orders import apply_update
from bot.core.types import Order, OrderStatus, OrderUpdate

from .support import order

D = Decimal
S = OrderStatus
TERMINAL = (S.FILLED, S.CANCELLED, S.REJECTED)


def update(status: OrderStatus, filled: str = "0", venue_id: str | None = "v1") -> OrderUpdate:
    return OrderUpdate("BTC-PERP", "o1", status, D(filled), venue_id)


def fold(start: Order, updates) -> Order:
    for u in updates:
        start = apply_update(start, u)
    return start


@pytest.mark.parametrize(
    "start, incoming, expected",
    [
        (S.PENDING, S.OPEN, S.OPEN),
        (S.OPEN, S.CANCEL_PENDING, S.CANCEL_PENDING),
        (S.CANCEL_PENDING, S.CANCELLED, S.CANCELLED),
        (S.PENDING, S.REJECTED, S.REJECTED),
        (S.OPEN, S.PENDING, S.OPEN),  # late ack of the intent
        (S.CANCEL_PENDING, S.OPEN, S.CANCEL_PENDING),  # a cancel request is never undone
        (S.CANCELLED, S.OPEN, S.CANCELLED),
        (S.REJECTED, S.OPEN, S.REJECTED),
        (S.FILLED, S.OPEN, S.FILLED),
        (S.FILLED, S.CANCELLED, S.FILLED),
    ],
)
def test_status_only_moves_forward(start: OrderStatus, incoming: OrderStatus, expected: OrderStatus) -> None:
    assert apply_update(order(status=start), update(incoming)).status is expected


def test_fill_reaching_size_finishes_the_order_whatever_the_status() -> None:
    done = apply_update(order(size="1", status=S.CANCEL_PENDING), update(S.OPEN, filled="1"))
    assert done.status is S.FILLED and done.filled == 1


def test_partial_fill_then_stale_smaller_fill_keeps_the_larger() -> None:
    o = fold(order(size="2"), [update(S.OPEN, "1.5"), update(S.OPEN, "0.5")])
    assert o.filled == D("1.5") and o.status is S.OPEN and o.remaining == D("0.5")


def test_venue_id_is_kept_once_known() -> None:
    o = fold(order(status=S.PENDING), [update(S.OPEN, venue_id="v1"), update(S.OPEN, venue_id=None),
                                        update(S.OPEN, venue_id="other")])
    assert o.venue_order_id == "v1"


def test_duplicate_update_is_idempotent() -> None:
    once = apply_update(order(size="3"), update(S.OPEN, "1"))
    assert apply_update(once, update(S.OPEN, "1")) == once


# -- random histories -----------------------------------------------------------------------------

@st.composite
def deliveries(draw):
    """An order size, its ordered venue history (acks with growing fills, then at most one terminal
    status), that history in any order, and some of its messages again."""
    size = draw(st.integers(1, 5))
    fills = sorted(draw(st.lists(st.integers(0, size - 1), max_size=6)))
    ordered = [update(draw(st.sampled_from([S.PENDING, S.OPEN, S.CANCEL_PENDING])), str(f)) for f in fills]
    terminal = draw(st.sampled_from([None, *TERMINAL]))
    if terminal is not None:
        ordered.append(update(terminal, str(size if terminal is S.FILLED else max(fills, default=0))))
    duplicates = draw(st.lists(st.sampled_from(ordered), max_size=4)) if ordered else []
    return size, ordered, draw(st.permutations(ordered)), duplicates


@settings(max_examples=300, deadline=None)
@given(deliveries())
def test_any_delivery_order_with_duplicates_gives_the_ordered_result(case) -> None:
    size, ordered, shuffled, duplicates = case
    start = order(size=str(size), status=S.PENDING)
    expected = fold(start, ordered)
    got = fold(start, [*shuffled, *duplicates])
    assert got == expected
    assert got.filled == max([u.filled for u in ordered], default=D(0))


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 5),
       updates=st.lists(st.tuples(st.sampled_from(list(S)), st.integers(0, 6)), max_size=10))
def test_never_revives_a_terminal_order_and_filled_is_the_max_seen(size: int, updates) -> None:
    o = order(size=str(size), status=S.PENDING)
    seen = [D(0)]
    for status, filled in updates:
        was_terminal = o.status in TERMINAL
        o = apply_update(o, update(status, str(filled)))
        seen.append(D(filled))
        assert o.filled == max(seen)
        assert not (was_terminal and o.status.is_live)
        assert (o.status is S.FILLED) or o.filled < size
