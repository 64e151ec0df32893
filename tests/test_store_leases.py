"""Instrument leases in Redis: one owner at a time, a lapsed lease can be taken over, and every
journal write of a stale owner is refused (fencing)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from bot.core.types import Order, OrderStatus, Side
from bot.state.store import Fenced, RedisStore


def _order(cid: str) -> Order:
    return Order(cid, "BTC-PERP", Side.BUY, Decimal("100"), Decimal("1"), OrderStatus.PENDING, 0.0)


async def test_one_owner_takeover_and_fencing(redis_url: str, prefix: str) -> None:
    a, b = RedisStore(redis_url, prefix), RedisStore(redis_url, prefix)
    try:
        assert await a.acquire_lease("BTC-PERP", "a", 300) == 1
        assert await b.acquire_lease("BTC-PERP", "b", 300) is None  # held
        assert await a.renew_lease("BTC-PERP", "a", 300)
        await a.save_order(_order("a-1"))

        await asyncio.sleep(0.4)  # a stops renewing: the lease lapses
        assert await b.acquire_lease("BTC-PERP", "b", 300) == 2
        assert not await a.renew_lease("BTC-PERP", "a", 300)
        with pytest.raises(Fenced):
            await a.save_order(_order("a-2"))  # the stale owner can journal nothing, so sends nothing
        await b.save_order(_order("b-1"))

        journal = await b.journal("BTC-PERP")
        assert [o.client_order_id for o in journal] == ["a-1", "b-1"]
        assert {o.client_order_id for o in await b.load_orders("BTC-PERP")} == {"a-1", "b-1"}

        await b.release_lease("BTC-PERP", "b")
        assert await a.lease_owner("BTC-PERP") is None
    finally:
        await a.close()
        await b.close()


async def test_without_a_lease_writes_are_not_fenced(redis_url: str, prefix: str) -> None:
    store = RedisStore(redis_url, prefix)
    try:
        await store.save_order(_order("x-1"))
        assert [o.client_order_id for o in await store.load_orders("BTC-PERP")] == ["x-1"]
    finally:
        await store.close()
