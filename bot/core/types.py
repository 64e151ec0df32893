"""Domain types shared by the core and the shell.

Units: every size is in the venue's **contracts** (for a linear contract one contract is
``contract_size`` coins; for an inverse one it is ``contract_size`` USD), every price in the
instrument's **quote currency** (USD/USDT per coin). Sizes and prices are :class:`~decimal.Decimal`
so accounting is exact; a signed size is positive for long/buy and negative for short/sell.
Times are float seconds since the epoch, passed in by the shell (the core never reads a clock).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)


class Side(str, enum.Enum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for buy, -1 for sell."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @staticmethod
    def of(signed_size: Decimal) -> Side:
        """The side that moves a position by ``signed_size`` (must be non-zero)."""
        if signed_size == 0:
            raise ValueError("a zero size has no side")
        return Side.BUY if signed_size > 0 else Side.SELL


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """What the venue says about an instrument.

    ``tick_size`` in quote currency; ``lot_size`` and ``min_size`` in contracts; ``min_notional``
    in quote currency (linear) or coin (inverse); ``contract_size`` in coins per contract (linear)
    or USD per contract (inverse); fees in basis points of notional, negative for a rebate.
    """

    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    min_size: Decimal
    min_notional: Decimal = ZERO
    contract_size: Decimal = Decimal(1)
    inverse: bool = False
    base: str = "BTC"
    quote: str = "USD"
    maker_fee_bps: Decimal = ZERO
    taker_fee_bps: Decimal = ZERO

    @property
    def settle(self) -> str:
        """The currency P&L and fees settle in: the coin for inverse, the quote for linear."""
        return self.base if self.inverse else self.quote

    def notional(self, size: Decimal, price: Decimal) -> Decimal:
        """|size| contracts at ``price``: quote currency for linear, coin for inverse."""
        if self.inverse:
            return abs(size) * self.contract_size / price
        return abs(size) * self.contract_size * price

    def coin_exposure(self, size: Decimal, price: Decimal) -> Decimal:
        """Signed exposure in coins (the underlying) of ``size`` contracts at ``price``."""
        if self.inverse:
            return size * self.contract_size / price
        return size * self.contract_size


@dataclass(frozen=True, slots=True)
class Level:
    """One price level of a book: ``price`` in quote currency, ``size`` in contracts."""

    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class Book:
    """An L2 book snapshot, best level first on each side; ``ts`` is the venue's time (s)."""

    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    ts: float

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2

    def touch(self, side: Side) -> Decimal | None:
        """The best price on ``side``'s own side of the book (bid for a buy, ask for a sell)."""
        return self.best_bid if side is Side.BUY else self.best_ask

    def size_at(self, side: Side, price: Decimal) -> Decimal:
        """Displayed size (contracts) at ``price`` on ``side``'s own side, zero if no level."""
        for level in self.bids if side is Side.BUY else self.asks:
            if level.price == price:
                return level.size
        return ZERO


@dataclass(frozen=True, slots=True)
class Trade:
    """A public trade print. ``aggressor`` is the taker's side; size in contracts."""

    symbol: str
    trade_id: str
    price: Decimal
    size: Decimal
    aggressor: Side
    ts: float


class OrderStatus(str, enum.Enum):
    """Life cycle of one of our orders. ``PENDING`` = intent journalled, not yet acknowledged."""

    PENDING = "pending"
    OPEN = "open"
    CANCEL_PENDING = "cancel_pending"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def is_live(self) -> bool:
        """True while the order can still fill (it counts as working quantity)."""
        return self in (OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.CANCEL_PENDING)


@dataclass(frozen=True, slots=True)
class Order:
    """One of our limit orders as the engine tracks it.

    ``size`` and ``filled`` in contracts (unsigned), ``price`` in quote currency, ``created_ts``
    the time the intent was recorded (s). ``target`` is the target position it serves.
    """

    client_order_id: str
    symbol: str
    side: Side
    price: Decimal
    size: Decimal
    status: OrderStatus
    created_ts: float
    filled: Decimal = ZERO
    venue_order_id: str | None = None
    target: Decimal | None = None
    reason: str = ""

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled

    @property
    def signed_remaining(self) -> Decimal:
        """Remaining size signed by side: what this order can still add to the position."""
        return self.remaining * self.side.sign if self.status.is_live else ZERO


@dataclass(frozen=True, slots=True)
class Fill:
    """A fill of one of our orders. ``size`` in contracts (unsigned), ``fee`` in ``fee_currency``
    (positive is a cost, negative a rebate), ``liquidity`` is ``maker`` or ``taker``."""

    symbol: str
    trade_id: str
    client_order_id: str
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal
    fee_currency: str
    liquidity: str
    ts: float

    @property
    def signed_size(self) -> Decimal:
        return self.size * self.side.sign


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """The venue's word on one of our orders (status change, possibly with a new fill)."""

    symbol: str
    client_order_id: str
    status: OrderStatus
    filled: Decimal
    venue_order_id: str | None = None
    reason: str = ""
    fill: Fill | None = None
    ts: float = 0.0


@dataclass(frozen=True, slots=True)
class InstrumentState:
    """Everything a policy may look at for one instrument, at one moment (``now`` in s)."""

    spec: InstrumentSpec
    now: float
    position: Decimal
    book: Book | None
    mid_history: tuple[float, ...] = field(default_factory=tuple)
    """Mid prices sampled at the engine's fixed ``sample_interval_s`` (oldest first)."""
    sample_interval_s: float = 1.0
    started_ts: float = 0.0
