"""The venue interface: the only way the engine talks to an exchange.

The simulated venue implements it in-process; the ccxt adapter implements it for real exchanges.
Sizes are in contracts and prices in quote currency, as in :mod:`bot.core.types`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import AsyncIterator, Literal, Protocol, Union, runtime_checkable

from bot.core.greeks.venue_conventions import VenueGreeks  # no numpy: a perp-only process never loads it
from bot.core.types import Book, FactorsUpdate, Fill, InstrumentSpec, OrderStatus, OrderUpdate, Side, Trade

@dataclass(frozen=True, slots=True)
class OptionGreeksUpdate:
    """An option's Greeks as the venue quotes them, already in core units (see
    :mod:`bot.core.greeks.venue_conventions`); ``symbol`` is the venue's option name."""

    symbol: str
    greeks: VenueGreeks
    ts: float


@dataclass(frozen=True, slots=True)
class PositionDeltaUpdate:
    """The venue's delta of our position in an option, as it reports it: ``delta_coin`` in coins of
    the underlying (Deribit: premium-adjusted for its coin-settled options) for ``size_coin`` coins
    held (signed); ``symbol`` is the venue's option name, ``ts`` when it was read (s)."""

    symbol: str
    delta_coin: float
    size_coin: float
    ts: float


@dataclass(frozen=True, slots=True)
class AccountStreamRecovered:
    """The venue's account streams (orders, fills, positions) came back after an error: updates
    may have been missed, so the engines reconcile with the venue before trading on."""

    symbol: str = "*"
    ts: float = 0.0


VenueEvent = Union[Book, Trade, FactorsUpdate, OrderUpdate, OptionGreeksUpdate, PositionDeltaUpdate,
                   AccountStreamRecovered]
"""What a venue streams: market data (books, trades, funding/open interest/mark) and updates on
our own orders."""


class VenueError(Exception):
    """The venue could not do what was asked; the outcome of the request is known."""


class OrderRejected(VenueError):
    """The venue refused the order (e.g. a post-only order that would cross)."""


class PostOnlyRejected(OrderRejected):
    """A post-only order (or amend) refused because it would have crossed. Venues report this
    differently (an exception on Binance and Deribit, a ``canceled`` order with the reason in
    ``info`` on Bybit and OKX); every adapter raises this one exception for it."""


class OrderNotFound(VenueError):
    """The venue does not know that client order id (never arrived, or long gone)."""


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A limit order; ``size`` in contracts, ``price`` in quote currency.

    Resting orders are post-only GTC; an escalation may send a crossing IOC limit (``post_only``
    False, ``time_in_force`` "IOC"), which trades what it can up to ``price`` and cancels the rest.
    There is no market order.
    """

    symbol: str
    client_order_id: str
    side: Side
    price: Decimal
    size: Decimal
    post_only: bool = True
    time_in_force: Literal["GTC", "IOC"] = "GTC"
    reduce_only: bool = False


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """The venue's view of one of our orders."""

    symbol: str
    client_order_id: str
    side: Side
    price: Decimal
    size: Decimal
    filled: Decimal
    status: OrderStatus
    venue_order_id: str | None = None


class Venue(Protocol):
    """An exchange account: market data, account data, order actions, instrument metadata."""

    name: str
    supports_amend: bool
    books_include_own_orders: bool
    """True for real venues (our resting orders are in the public book); False for simulated
    markets whose books are the market without us."""

    async def connect(self, symbols: list[str]) -> None:
        """Open connections and subscribe to market and account streams for ``symbols``."""

    async def close(self) -> None:
        """Release every connection; pending order actions are not awaited."""

    def events(self) -> AsyncIterator[VenueEvent]:
        """Books, trades and own-order updates (each fill in its own update), in venue order."""

    async def instrument(self, symbol: str) -> InstrumentSpec: ...

    async def fetch_book(self, symbol: str, depth: int = 10) -> Book: ...

    async def fetch_position(self, symbol: str) -> Decimal:
        """Signed position in contracts."""

    async def fetch_balances(self) -> dict[str, Decimal]: ...

    async def fetch_open_orders(self, symbol: str) -> list[VenueOrder]: ...

    async def fetch_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        """Raises :class:`OrderNotFound` if the venue never saw that id."""

    async def fetch_fills(self, symbol: str, since_ts: float) -> list[Fill]:
        """Our fills on ``symbol`` at or after ``since_ts`` (s), oldest first."""

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        """Send a limit order; raises :class:`OrderRejected` when refused."""

    async def amend_order(self, symbol: str, client_order_id: str, price: Decimal) -> OrderUpdate:
        """Move a resting order to ``price`` (it loses its queue place)."""

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderUpdate:
        """Cancel; raises :class:`OrderNotFound` if unknown. An already-done order reports its
        final status instead of an error."""

    async def cancel_all(self, symbol: str | None = None) -> list[OrderUpdate]: ...


@runtime_checkable
class InProcessExchange(Protocol):
    """A venue that runs the exchange itself (simulated): it holds an instrument's exchange state
    only while activated, so that, with several instances on one Redis, only the instrument's
    lease holder runs it."""

    async def activate(self, symbol: str) -> None: ...

    async def deactivate(self, symbol: str) -> None: ...
