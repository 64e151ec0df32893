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
from typing import Sequence

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
class OptionTerms:
    """An option instrument's terms: ``strike`` in USD, ``expiry_ts`` in seconds since the epoch;
    ``coin_settled`` options are quoted in coins (Deribit), others in USD; ``fallback_iv`` (a
    fraction) values it until its own market price gives an implied vol."""

    is_call: bool
    strike: float
    expiry_ts: float
    coin_settled: bool = False
    fallback_iv: float = 0.6


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
    option: OptionTerms | None = None
    """Set for options: one contract is ``contract_size`` coins of underlying ``base``."""

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
    post_only_rejected: bool = False
    """The venue refused a post-only order because it would have crossed (reported as an update
    rather than an exception when the refusal comes after the order was sent)."""


@dataclass(frozen=True, slots=True)
class PnlView:
    """The instrument's trading record, in USD (converted at the mid for inverse contracts).

    ``avg_entry_price`` (quote currency) is that of the open position, ``None`` when flat;
    ``closed_trade_pnls_usd`` holds the P&L of recent round trips (position back to flat or
    through zero), oldest first; ``last_fill_price``/``last_fill_ts`` the most recent fill.
    """

    avg_entry_price: Decimal | None = None
    realized_pnl_usd: float = 0.0
    unrealized_pnl_usd: float = 0.0
    fees_usd: float = 0.0
    closed_trade_pnls_usd: tuple[float, ...] = ()
    last_fill_price: Decimal | None = None
    last_fill_ts: float | None = None
    best_mid_since_entry: float | None = None
    """The most favourable mid (highest for a long, lowest for a short) seen on any book update
    since the position last left flat or flipped; ``None`` when flat."""


@dataclass(frozen=True, slots=True)
class AccountView:
    """Account equity in USD: now, its running peak, and at the start of the UTC day."""

    equity_usd: float
    peak_equity_usd: float
    day_start_equity_usd: float


@dataclass(frozen=True, slots=True)
class MarketFactors:
    """Venue data beyond the book, where the venue provides it (``None`` otherwise).

    ``funding_rate`` per funding interval as a fraction (0.0001 = 1 bp), ``funding_interval_h``
    hours; ``open_interest`` in contracts and ``open_interest_change`` its fractional change over
    the venue's window; ``basis`` = (mark − index) / index; ``liquidations_usd`` nearby
    liquidation volume over the last window.
    """

    funding_rate: float | None = None
    funding_interval_h: float = 8.0
    open_interest: float | None = None
    open_interest_change: float | None = None
    basis: float | None = None
    mark_price: float | None = None
    index_price: float | None = None
    liquidations_usd: float | None = None


@dataclass(frozen=True, slots=True)
class FactorsUpdate:
    """The venue's latest funding, open interest, mark and index for one instrument."""

    symbol: str
    factors: MarketFactors
    ts: float


@dataclass(frozen=True, slots=True)
class GreeksView:
    """The portfolio's Greeks on this instrument's underlying, **excluding** this instrument.

    ``delta_coin``: change of portfolio value per 1 coin-price unit move, in coins (so a
    hedge of ``-delta_coin`` coins neutralises it); ``gamma_coin``: d(delta_coin)/dS, coins per
    USD; ``vega_usd_per_vol_point``: USD per 1 vol point (0.01 of vol); ``theta_usd_per_day``.
    ``instrument_delta_coin``/``instrument_vega_usd_per_vol_point``: the same Greeks of ONE
    contract of this instrument (for a linear perpetual, delta = contract_size and vega = 0).
    """

    delta_coin: float = 0.0
    gamma_coin: float = 0.0
    vega_usd_per_vol_point: float = 0.0
    theta_usd_per_day: float = 0.0
    instrument_delta_coin: float = 1.0
    instrument_vega_usd_per_vol_point: float = 0.0


@dataclass(frozen=True, slots=True)
class PeerView:
    """Another instrument of the same engine, for cross-sectional policies."""

    symbol: str
    mid: float
    realised_vol: float | None
    """Annualised, from the same sampling as this instrument's; ``None`` until enough samples."""


@dataclass(frozen=True, slots=True)
class InstrumentState:
    """Everything a policy may look at for one instrument, at one moment (``now`` in s).

    ``position`` in contracts (signed). ``mid_history`` holds mids sampled every
    ``sample_interval_s`` seconds, oldest first (a tuple, or the engine's
    :class:`~bot.core.mids.MidHistory`). ``target`` is the current target (contracts)
    and ``target_set_ts`` when it was set. Views default to empty when the engine has no data.
    """

    spec: InstrumentSpec
    now: float
    position: Decimal
    book: Book | None
    mid_history: Sequence[float] = ()
    sample_interval_s: float = 1.0
    started_ts: float = 0.0
    target: Decimal | None = None
    target_set_ts: float | None = None
    pnl: PnlView = field(default_factory=PnlView)
    account: AccountView | None = None
    factors: MarketFactors = field(default_factory=MarketFactors)
    greeks: GreeksView = field(default_factory=GreeksView)
    peers: tuple[PeerView, ...] = ()
