"""Paper trading on live data: the real venue's public market data through ccxt (no keys),
our orders matched locally by the simulated exchange's fill model (:mod:`bot.core.fill_model`:
queue position behind the displayed size, fills only on trades at or through the price; an IOC
takes the displayed liquidity up to its limit and the rest is cancelled).

The paper account (positions, resting orders, fills) persists through
:meth:`~bot.state.store.RedisStore.save_paper_account` (one key for the whole paper account).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal
from typing import Any, AsyncIterator, Callable

from bot.core.types import Book, Fill, InstrumentSpec, OrderUpdate, Trade
from bot.venues.base import OrderRejected, OrderRequest, VenueError, VenueEvent, VenueOrder
from bot.venues.ccxt.venue import CcxtVenue
from bot.venues.simulated.exchange import SimulatedExchange


class PaperVenue:
    """Live market data from ``market_data`` (a :class:`CcxtVenue` with ``trading=False``),
    simulated order matching."""

    supports_amend = True
    books_include_own_orders = False  # the live public book; our paper orders are not in it

    def __init__(self, market_data: CcxtVenue, *, store: Any | None = None, clock: Callable[[], float] = time.time):
        self.name = f"paper:{market_data.name}"
        self.market_data = market_data
        self._store = store
        self._clock = clock
        self._exchange: SimulatedExchange | None = None
        self._books: dict[str, Book] = {}
        self._queue: asyncio.Queue[VenueEvent] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    async def connect(self, symbols: list[str]) -> None:
        await self.market_data.connect(symbols)
        specs = {s: await self.market_data.instrument(s) for s in symbols}
        self._exchange = SimulatedExchange(specs)
        saved = await self._store.load_paper_account() if self._store else None
        if saved and "exchange" in saved:
            self._exchange.load(saved["exchange"])
        self._task = asyncio.create_task(self._pump(), name=f"{self.name}:pump")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.market_data.close()

    async def events(self) -> AsyncIterator[VenueEvent]:
        while True:
            yield await self._queue.get()

    async def _pump(self) -> None:
        async for event in self.market_data.events():
            updates: list[OrderUpdate] = []
            async with self._lock:
                if isinstance(event, Book):
                    self._books[event.symbol] = event
                    updates = self._ex().on_market(event, [])
                elif isinstance(event, Trade) and event.symbol in self._books:
                    updates = self._ex().on_market(self._books[event.symbol], [event])
                if updates:
                    await self._save()
            for e in (event, *updates):
                self._queue.put_nowait(e)

    def _ex(self) -> SimulatedExchange:
        if self._exchange is None:
            raise VenueError(f"{self.name}: not connected")
        return self._exchange

    async def _save(self) -> None:
        if self._store is not None:
            await self._store.save_paper_account({"exchange": self._ex().to_dict(), "mids": {}, "runs": 0})

    def _book(self, symbol: str) -> Book:
        book = self._books.get(symbol)
        if book is None or self.market_data.is_stale(symbol):
            raise OrderRejected(f"{symbol}: live market data stale, no paper orders until it recovers")
        return book

    async def _act(self, action: Callable[[], OrderUpdate]) -> OrderUpdate:
        """Apply an order action and save; then publish its follow-ups (an IOC's fills, one
        update each, and its final status) and answer."""
        async with self._lock:
            update = action()
            follow_ups = self._ex().take_updates()
            await self._save()
        for follow_up in follow_ups:
            self._queue.put_nowait(follow_up)
        return update

    # Venue interface ---------------------------------------------------------------------------
    async def instrument(self, symbol: str) -> InstrumentSpec:
        return await self.market_data.instrument(symbol)

    async def fetch_book(self, symbol: str, depth: int = 10) -> Book:
        return await self.market_data.fetch_book(symbol, depth)

    async def fetch_position(self, symbol: str) -> Decimal:
        return self._ex().positions[symbol]

    async def fetch_balances(self) -> dict[str, Decimal]:
        balances: dict[str, Decimal] = {}
        for f in self._ex().fills:
            balances[f.fee_currency] = balances.get(f.fee_currency, Decimal(0)) - f.fee
        return balances

    async def fetch_open_orders(self, symbol: str) -> list[VenueOrder]:
        return self._ex().open_orders(symbol)

    async def fetch_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        return self._ex().order(client_order_id)

    async def fetch_fills(self, symbol: str, since_ts: float) -> list[Fill]:
        return [f for f in self._ex().fills if f.symbol == symbol and f.ts >= since_ts]

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        """As on the venue: a post-only order that would cross is refused; an IOC (never
        post-only) takes the live book's displayed liquidity up to its price (taker fills, as
        events) and the rest is cancelled; the answer is the acknowledgement."""
        if request.post_only and request.time_in_force == "IOC":
            raise OrderRejected(f"{request.symbol} {request.client_order_id}: a post-only order cannot be IOC "
                                "(an IOC takes liquidity; post-only never does)")
        book = self._book(request.symbol)
        return await self._act(lambda: self._ex().place(request, book, self._clock()))

    async def amend_order(self, symbol: str, client_order_id: str, price: Decimal) -> OrderUpdate:
        book = self._book(symbol)
        return await self._act(lambda: self._ex().amend(client_order_id, price, book, self._clock()))

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderUpdate:
        return await self._act(lambda: self._ex().cancel(client_order_id, self._clock()))

    async def cancel_all(self, symbol: str | None = None) -> list[OrderUpdate]:
        async with self._lock:
            ts = self._clock()
            updates = [self._ex().cancel(o.client_order_id, ts) for o in self._ex().open_orders(symbol)]
            await self._save()
        return updates
