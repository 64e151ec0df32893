"""The simulated venue: an in-process exchange behind the :class:`~bot.venues.base.Venue` interface.

It steps every market in real time (``step_s / speed`` seconds of wall time per step), streams
books, trades and fills of our orders, and persists its account (positions, resting orders, fills,
last mids) through a :class:`SimStateStore` after every change, so a paper account outlives the
process the way an exchange account outlives a bot.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import AsyncIterator, Callable, Protocol

from bot.core.types import Book, FactorsUpdate, Fill, InstrumentSpec, OrderUpdate
from bot.venues.base import OrderRequest, VenueError, VenueEvent, VenueOrder
from bot.venues.simulated.exchange import SimulatedExchange
from bot.venues.simulated.market import MarketParams, SimulatedMarket


FACTORS_EVERY_S = 1.0
"""Simulated seconds between funding / open interest / mark updates."""


class SimStateStore(Protocol):
    """Where the simulated exchange keeps its account between runs."""

    async def load_sim_state(self) -> dict | None: ...

    async def save_sim_state(self, state: dict) -> None: ...


@dataclass(frozen=True, slots=True)
class SimInstrument:
    spec: InstrumentSpec
    market: MarketParams


class SimulatedVenue:
    """A seeded simulated exchange; ``speed`` > 1 runs the market faster than real time."""

    name = "simulated"
    supports_amend = True
    books_include_own_orders = False

    def __init__(
        self,
        instruments: list[SimInstrument],
        *,
        seed: int,
        store: SimStateStore | None = None,
        speed: float = 1.0,
        clock: Callable[[], float] = time.time,
    ):
        self._instruments = {i.spec.symbol: i for i in instruments}
        self._seed = seed
        self._store = store
        self._speed = speed
        self._clock = clock
        self._exchange = SimulatedExchange({s: i.spec for s, i in self._instruments.items()})
        self._markets: dict[str, SimulatedMarket] = {}
        self._books: dict[str, Book] = {}
        self._queue: asyncio.Queue[VenueEvent] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._runs = 0

    async def connect(self, symbols: list[str]) -> None:
        unknown = sorted(set(symbols) - set(self._instruments))
        if unknown:
            raise VenueError(f"simulated venue has no instrument {', '.join(unknown)}")
        saved = await self._store.load_sim_state() if self._store else None
        mids = (saved or {}).get("mids", {})
        if saved:
            self._exchange.load(saved["exchange"])
        runs = (saved or {}).get("runs", 0) + 1
        for symbol in symbols:
            rng = random.Random(f"{self._seed}:{symbol}:{runs}")
            self._markets[symbol] = SimulatedMarket(symbol, self._instruments[symbol].market, rng, mids.get(symbol))
            self._books[symbol] = self._markets[symbol].book(self._clock())
        self._runs = runs
        await self._save()
        self._task = asyncio.create_task(self._run(), name="simulated-venue")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def events(self) -> AsyncIterator[VenueEvent]:
        while True:
            yield await self._queue.get()

    async def _run(self) -> None:
        step_s = min(i.market.step_s for i in self._instruments.values())
        steps_per_factor = max(1, round(FACTORS_EVERY_S / step_s))
        count = 0
        while True:
            await asyncio.sleep(step_s / self._speed)
            await self.step()
            count += 1
            if count % steps_per_factor == 0:
                ts = self._clock()
                for symbol, market in self._markets.items():
                    self._queue.put_nowait(FactorsUpdate(symbol, market.factors(), ts))

    async def step(self) -> None:
        """Advance every market one step and publish what happened."""
        async with self._lock:
            ts = self._clock()
            changed = False
            for symbol, market in self._markets.items():
                trades = market.step(ts)
                book = self._books[symbol] = market.book(ts)
                updates = self._exchange.on_market(book, trades)
                changed = changed or bool(updates)
                for event in (book, *trades, *updates):
                    self._queue.put_nowait(event)
            if changed:
                await self._save()

    async def _save(self) -> None:
        if self._store is not None:
            mids = {s: m.mid for s, m in self._markets.items()}
            await self._store.save_sim_state({"exchange": self._exchange.to_dict(), "mids": mids, "runs": self._runs})

    async def _act(self, action: Callable[[], OrderUpdate]) -> OrderUpdate:
        async with self._lock:
            update = action()
            for follow_up in self._exchange.take_updates():  # an IOC's fills and final status
                self._queue.put_nowait(follow_up)
            await self._save()
        return update

    # Venue interface ---------------------------------------------------------------------------
    async def instrument(self, symbol: str) -> InstrumentSpec:
        return self._instruments[symbol].spec

    async def fetch_book(self, symbol: str, depth: int = 10) -> Book:
        return self._markets[symbol].book(self._clock(), depth)

    async def fetch_position(self, symbol: str) -> Decimal:
        return self._exchange.positions[symbol]

    async def fetch_balances(self) -> dict[str, Decimal]:
        balances: dict[str, Decimal] = {}
        for f in self._exchange.fills:
            balances[f.fee_currency] = balances.get(f.fee_currency, Decimal(0)) - f.fee
        return balances

    async def fetch_open_orders(self, symbol: str) -> list[VenueOrder]:
        return self._exchange.open_orders(symbol)

    async def fetch_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        return self._exchange.order(client_order_id)

    async def fetch_fills(self, symbol: str, since_ts: float) -> list[Fill]:
        return [f for f in self._exchange.fills if f.symbol == symbol and f.ts >= since_ts]

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        return await self._act(lambda: self._exchange.place(request, self._books[request.symbol], self._clock()))

    async def amend_order(self, symbol: str, client_order_id: str, price: Decimal) -> OrderUpdate:
        return await self._act(lambda: self._exchange.amend(client_order_id, price, self._books[symbol], self._clock()))

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderUpdate:
        return await self._act(lambda: self._exchange.cancel(client_order_id, self._clock()))

    async def cancel_all(self, symbol: str | None = None) -> list[OrderUpdate]:
        async with self._lock:
            ts = self._clock()
            updates = [self._exchange.cancel(o.client_order_id, ts) for o in self._exchange.open_orders(symbol)]
            await self._save()
        return updates

