"""Fixtures: local exchange servers on 127.0.0.1 and ccxt venues pointed at them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import AsyncIterator

import pytest
from pydantic import SecretStr

from bot.core.types import OrderStatus, OrderUpdate, Side
from bot.venues.ccxt.config import CcxtVenueConfig
from bot.venues.base import OrderRequest
from bot.venues.ccxt.venue import CcxtVenue
from tests.venues.servers.deribit import API_KEY, SECRET, DeribitServer

FAST = {"reconnect": {"initial_ms": 20, "max_ms": 200}, "request_timeout_ms": 2000, "stale_after_ms": 3000}


@pytest.fixture
async def deribit_server() -> AsyncIterator[DeribitServer]:
    server = DeribitServer()
    await server.start()
    yield server
    await server.stop()


def deribit_config(server: DeribitServer, tmp_path: Path, **overrides) -> CcxtVenueConfig:
    return CcxtVenueConfig.model_validate({
        "exchange": "deribit", "urls": {"rest": server.rest, "ws": server.ws},
        "markets_cache": str(tmp_path / "deribit-markets.json"), **FAST, **overrides})


@dataclass(frozen=True)
class Credentials:
    """Shaped like ``bot.config.Credentials`` (what ``from_config`` receives)."""

    api_key: SecretStr
    secret: SecretStr
    password: SecretStr | None = None


CREDENTIALS = Credentials(api_key=SecretStr(API_KEY), secret=SecretStr(SECRET))


@pytest.fixture
async def deribit_venue(deribit_server: DeribitServer, tmp_path: Path) -> AsyncIterator[CcxtVenue]:
    venue = CcxtVenue(deribit_config(deribit_server, tmp_path), CREDENTIALS)
    yield venue
    await venue.close()


async def next_event(venue, kind, predicate=lambda e: True, timeout: float = 3.0):
    """The next event of type ``kind`` matching ``predicate`` (others are skipped)."""
    async def find():
        async for event in venue.events():
            if isinstance(event, kind) and predicate(event):
                return event
    return await asyncio.wait_for(find(), timeout)


async def eventually(predicate, timeout: float = 3.0, interval: float = 0.02):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


async def order_events(venue, cid: str, filled: Decimal, timeout: float = 3.0) -> tuple[list, list[OrderUpdate]]:
    """From the streams, until ``cid``'s fills add up to ``filled`` contracts and the order stream has
    reported it ended (the order and trade streams are separate watchers: either may come
    first): (the updates carrying a fill, the order stream's terminal updates)."""
    fills: list[OrderUpdate] = []
    ended: list[OrderUpdate] = []

    async def collect() -> None:
        async for event in venue.events():
            if isinstance(event, OrderUpdate) and event.client_order_id == cid:
                if event.fill is not None:
                    fills.append(event)
                elif not event.status.is_live:
                    ended.append(event)
            if ended and sum((u.fill.size for u in fills), Decimal(0)) >= filled:
                return

    await asyncio.wait_for(collect(), timeout)
    return fills, ended


async def assert_ended_unfilled(venue, answer: OrderUpdate, cid: str) -> None:
    """The order ``cid`` ended cancelled with nothing filled, and not as a post-only rejection:
    in the venue's answer and in the order stream."""
    assert (answer.status, answer.filled, answer.post_only_rejected) == (OrderStatus.CANCELLED, 0, False)
    streamed = await next_event(venue, OrderUpdate, lambda u: u.client_order_id == cid and not u.status.is_live)
    assert (streamed.status, streamed.filled, streamed.post_only_rejected) == (OrderStatus.CANCELLED, 0, False)


def ioc_request(symbol: str, cid: str, side: Side, price: str, size: str, *, reduce_only: bool = False) -> OrderRequest:
    """An IOC limit order request (never post-only), as the engine sends when it crosses."""
    return OrderRequest(symbol, cid, side, Decimal(price), Decimal(size), post_only=False, time_in_force="IOC",
                        reduce_only=reduce_only)
