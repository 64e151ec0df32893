"""The simulated venue: an in-process exchange behind the :class:`~bot.venues.base.Venue` interface.

It steps every market in real time (``step_s / speed`` seconds of wall time per step), streams
books, trades and fills of our orders, and persists each instrument's account (position, resting
orders, fills, last mid) through a :class:`SimStateStore` after every change, so a paper account
outlives the process the way an exchange account outlives a bot.

Like an exchange's, a change is durable before anyone hears of it: the account is changed and saved
under one lock, and its events, the answer to the order action and the ``fetch_*`` reads all come
after the save. So a process killed at any moment restarts on an account that has every fill it
ever reported (short of a store outage, when the exchange runs on unsaved).

Each instrument has an exchange of its own, active (stepped, loaded from and saved to the store)
only between :meth:`SimulatedVenue.activate` and :meth:`~SimulatedVenue.deactivate`: with several
processes sharing one Redis, only the instance that holds an instrument's lease runs its
market, so no two processes ever write its state.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import AsyncIterator, Callable, Protocol

from bot.core.types import Book, FactorsUpdate, Fill, InstrumentSpec, OrderUpdate
from bot.log import get_logger
from bot.venues.base import OrderRequest, VenueError, VenueEvent, VenueOrder
from bot.venues.simulated.exchange import SimulatedExchange
from bot.venues.simulated.market import MarketParams, SimulatedMarket


FACTORS_EVERY_S = 1.0
"""Simulated seconds between funding / open interest / mark updates."""


class SimStateStore(Protocol):
    """Where the simulated exchange keeps each instrument's account between runs."""

    async def load_sim_state(self, symbol: str) -> dict | None: ...

    async def save_sim_state(self, symbol: str, state: dict) -> None: ...


@dataclass(frozen=True, slots=True)
class SimInstrument:
    spec: InstrumentSpec
    market: MarketParams


class SimulatedVenue:
    """A seeded simulated exchange; ``speed`` > 1 runs the market faster than real time.

    ``activate_on_connect`` (default) activates every instrument at :meth:`connect`; the daemon
    turns it off and activates an instrument when it holds the instrument's lease.
    """

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
        activate_on_connect: bool = True,
    ):
        self._instruments = {i.spec.symbol: i for i in instruments}
        self._seed = seed
        self._store = store
        self._speed = speed
        self._clock = clock
        self._activate_on_connect = activate_on_connect
        self._exchanges = {s: SimulatedExchange({s: i.spec}) for s, i in self._instruments.items()}
        self._markets: dict[str, SimulatedMarket] = {}
        self._runs: dict[str, int] = {}
        self._books: dict[str, Book] = {}
        self._queue: asyncio.Queue[VenueEvent] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._unsaved: set[str] = set()
        self._versions: dict[str, int] = {}
        """Per instrument, the version of the account this process last saved or loaded."""
        self._log = get_logger(venue="simulated")

    async def connect(self, symbols: list[str]) -> None:
        unknown = sorted(set(symbols) - set(self._instruments))
        if unknown:
            raise VenueError(f"simulated venue has no instrument {', '.join(unknown)}")
        if self._activate_on_connect:
            for symbol in symbols:
                await self.activate(symbol)
        self._task = asyncio.create_task(self._run(), name="simulated-venue")

    async def activate(self, symbol: str) -> None:
        """Load ``symbol``'s account from the store (unless this process holds a newer copy, as
        after a Redis outage) and start its market where it left off."""
        async with self._lock:
            saved = await self._store.load_sim_state(symbol) if self._store else None
            if saved and saved.get("version", 0) > self._versions.get(symbol, 0):
                exchange = self._exchanges[symbol] = SimulatedExchange({symbol: self._instruments[symbol].spec})
                exchange.load(saved["exchange"])
                self._versions[symbol] = saved["version"]
            runs = self._runs[symbol] = (saved or {}).get("runs", 0) + 1
            rng = random.Random(f"{self._seed}:{symbol}:{runs}")
            market = self._markets[symbol] = SimulatedMarket(symbol, self._instruments[symbol].market, rng,
                                                             (saved or {}).get("mid"))
            self._books[symbol] = market.book(self._clock())
            await self._save(symbol)

    async def deactivate(self, symbol: str) -> None:
        """Stop ``symbol``'s market (its account stays in the store as it is)."""
        async with self._lock:
            self._markets.pop(symbol, None)

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
                for symbol, market in list(self._markets.items()):
                    self._queue.put_nowait(FactorsUpdate(symbol, market.factors(), ts))

    async def step(self) -> None:
        """Advance every active market one step and publish what happened, once saved."""
        async with self._lock:
            ts = self._clock()
            for symbol, market in list(self._markets.items()):
                trades = market.step(ts)
                book = self._books[symbol] = market.book(ts)
                updates = self._exchanges[symbol].on_market(book, trades)
                if updates or symbol in self._unsaved:
                    await self._save(symbol)
                self._publish(book, *trades, *updates)

    async def _save(self, symbol: str) -> None:
        """Persist ``symbol``'s account. The exchange keeps running when its store is away (as a
        real one would): a failed save is logged and retried on the next step."""
        market = self._markets.get(symbol)
        if self._store is None or market is None:
            return
        version = self._versions.get(symbol, 0) + 1
        try:
            await self._store.save_sim_state(symbol, {"exchange": self._exchanges[symbol].to_dict(),
                                                      "mid": market.mid, "runs": self._runs[symbol],
                                                      "version": version})
            self._versions[symbol] = version
            self._unsaved.discard(symbol)
        except Exception as exc:
            if symbol not in self._unsaved:
                self._log.error("sim.save_failed", instrument=symbol, error=type(exc).__name__)
            self._unsaved.add(symbol)

    async def _act(self, symbol: str, action: Callable[[SimulatedExchange], OrderUpdate]) -> OrderUpdate:
        """Apply an order action, save, then publish its follow-ups (an IOC's fills and final
        status) and answer."""
        async with self._lock:
            exchange = self._exchanges[symbol]
            update = action(exchange)
            follow_ups = exchange.take_updates()
            await self._save(symbol)
            self._publish(*follow_ups)
        return update

    def _publish(self, *events: VenueEvent) -> None:
        for event in events:
            self._queue.put_nowait(event)

    # Venue interface ---------------------------------------------------------------------------
    async def instrument(self, symbol: str) -> InstrumentSpec:
        return self._instruments[symbol].spec

    async def fetch_book(self, symbol: str, depth: int = 10) -> Book:
        return self._markets[symbol].book(self._clock(), depth)

    # account reads wait for the lock: a change being saved is not shown before its save ends
    async def fetch_position(self, symbol: str) -> Decimal:
        async with self._lock:
            return self._exchanges[symbol].positions[symbol]

    async def fetch_balances(self) -> dict[str, Decimal]:
        balances: dict[str, Decimal] = {}
        async with self._lock:
            for exchange in self._exchanges.values():
                for f in exchange.fills:
                    balances[f.fee_currency] = balances.get(f.fee_currency, Decimal(0)) - f.fee
        return balances

    async def fetch_open_orders(self, symbol: str) -> list[VenueOrder]:
        async with self._lock:
            return self._exchanges[symbol].open_orders(symbol)

    async def fetch_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        async with self._lock:
            return self._exchanges[symbol].order(client_order_id)

    async def fetch_fills(self, symbol: str, since_ts: float) -> list[Fill]:
        async with self._lock:
            return [f for f in self._exchanges[symbol].fills if f.ts >= since_ts]

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        symbol = request.symbol
        return await self._act(symbol, lambda x: x.place(request, self._books[symbol], self._clock()))

    async def amend_order(self, symbol: str, client_order_id: str, price: Decimal) -> OrderUpdate:
        return await self._act(symbol, lambda x: x.amend(client_order_id, price, self._books[symbol], self._clock()))

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderUpdate:
        return await self._act(symbol, lambda x: x.cancel(client_order_id, self._clock()))

    async def cancel_all(self, symbol: str | None = None) -> list[OrderUpdate]:
        updates = []
        async with self._lock:
            ts = self._clock()
            for name in [symbol] if symbol else list(self._exchanges):
                exchange = self._exchanges[name]
                updates += [exchange.cancel(o.client_order_id, ts) for o in exchange.open_orders(name)]
                await self._save(name)
        return updates
