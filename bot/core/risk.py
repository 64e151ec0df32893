"""Pre-trade risk checks: pure functions that stand between a planned order and the venue.

Each returns ``None`` when the action may go, or a :class:`RiskRejection` naming the limit, its
value and the value that broke it (logged as ``risk.rejected``). Cancels are never checked.
Position-type limits assume the worst case: every live order on the order's side fills, and
none on the other side does.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.core.types import AccountView, Book, GreeksView, InstrumentSpec


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Per-instrument limits. Sizes in contracts; ``max_notional_usd`` in USD;
    ``stale_after_s`` in seconds; ``price_band_bps`` the largest distance of a limit price from
    the reference (mark when known, else mid) in basis points; Greek limits on the whole
    portfolio after the order fills: delta in coins, gamma in coins per USD, vega in USD per
    vol point. ``None`` disables a limit."""

    max_position: Decimal
    max_order_size: Decimal
    stale_after_s: float = 2.0
    price_band_bps: Decimal = Decimal(50)
    max_notional_usd: Decimal | None = None
    max_working_orders: int | None = None
    max_abs_delta_coin: float | None = None
    max_abs_gamma_coin: float | None = None
    max_abs_vega_usd_per_vol_point: float | None = None

    @property
    def checks_greeks(self) -> bool:
        return (self.max_abs_delta_coin, self.max_abs_gamma_coin, self.max_abs_vega_usd_per_vol_point) != (None,) * 3


@dataclass(frozen=True, slots=True)
class AccountLimits:
    """Limits on the whole account (USD and fractions); breaking one engages the kill switch."""

    max_daily_loss_usd: float | None = None
    max_drawdown_fraction: float | None = None


@dataclass(frozen=True, slots=True)
class RiskRejection:
    limit: str
    limit_value: str
    actual: str


@dataclass(frozen=True, slots=True)
class OrderCheck:
    """A new or moved order and what surrounds it.

    ``signed_size`` in contracts (positive buys); ``working_same_side`` the signed remaining size
    of the other live orders on its side; ``live_orders`` how many orders are live besides it;
    ``greeks`` the portfolio's Greeks excluding this instrument; ``instrument_gamma_coin`` and
    ``instrument_vega_usd_per_vol_point`` those of one contract (zero for futures and perps);
    ``mark`` the venue's mark price when known.
    """

    spec: InstrumentSpec
    book: Book | None
    position: Decimal
    working_same_side: Decimal
    signed_size: Decimal
    price: Decimal
    now: float
    live_orders: int = 0
    greeks: GreeksView = GreeksView()
    instrument_gamma_coin: float = 0.0
    mark: Decimal | None = None
    is_new: bool = True
    """False for a reprice: a partly filled remainder below the minimum size may still move."""


def check_order(limits: RiskLimits, order: OrderCheck) -> RiskRejection | None:
    """The first limit ``order`` breaks, or ``None``."""
    book = order.book
    if book is None or book.mid is None:
        return RiskRejection("market_data", "book with both sides", "none")
    age = order.now - book.ts
    if age > limits.stale_after_s:
        return RiskRejection("stale_after_s", f"{limits.stale_after_s}", f"{age:.3f}")
    size = abs(order.signed_size)
    if size > limits.max_order_size:
        return RiskRejection("max_order_size", str(limits.max_order_size), str(size))
    spec = order.spec
    if order.is_new and (size < spec.min_size or spec.notional(size, order.price) < spec.min_notional):
        return RiskRejection("min_size", f"{spec.min_size} contracts, {spec.min_notional} notional", str(size))
    if limits.max_working_orders is not None and order.live_orders + 1 > limits.max_working_orders:
        return RiskRejection("max_working_orders", str(limits.max_working_orders), str(order.live_orders + 1))
    before = order.position + order.working_same_side
    after = before + order.signed_size
    if abs(after) > limits.max_position:
        return RiskRejection("max_position", str(limits.max_position), str(abs(after)))
    reference = order.mark or book.mid
    if limits.max_notional_usd is not None:
        notional = abs(spec.coin_exposure(after, reference)) * reference
        if notional > limits.max_notional_usd:
            return RiskRejection("max_notional_usd", str(limits.max_notional_usd), f"{notional:.2f}")
    distance_bps = abs(order.price - reference) / reference * 10_000
    if distance_bps > limits.price_band_bps:
        return RiskRejection("price_band_bps", str(limits.price_band_bps), f"{distance_bps:.2f}")
    return _check_greeks(limits, order, before, after)


def _check_greeks(limits: RiskLimits, order: OrderCheck, before: Decimal, after: Decimal) -> RiskRejection | None:
    """Portfolio Greeks after the fill may not exceed a limit, unless the order reduces them."""
    g = order.greeks
    pairs = (
        ("max_abs_delta_coin", limits.max_abs_delta_coin, g.delta_coin, g.instrument_delta_coin),
        ("max_abs_gamma_coin", limits.max_abs_gamma_coin, g.gamma_coin, order.instrument_gamma_coin),
        ("max_abs_vega_usd_per_vol_point", limits.max_abs_vega_usd_per_vol_point, g.vega_usd_per_vol_point,
         g.instrument_vega_usd_per_vol_point),
    )
    for name, limit, book_value, per_contract in pairs:
        if limit is None:
            continue
        value_before = book_value + float(before) * per_contract
        value_after = book_value + float(after) * per_contract
        if abs(value_after) > limit and abs(value_after) > abs(value_before):
            return RiskRejection(name, str(limit), f"{value_after:.6g}")
    return None


def check_account(limits: AccountLimits, account: AccountView) -> RiskRejection | None:
    """A breached account limit (which must engage the kill switch), or ``None``."""
    if limits.max_daily_loss_usd is not None:
        loss = account.day_start_equity_usd - account.equity_usd
        if loss > limits.max_daily_loss_usd:
            return RiskRejection("max_daily_loss_usd", str(limits.max_daily_loss_usd), f"{loss:.2f}")
    if limits.max_drawdown_fraction is not None and account.peak_equity_usd > 0:
        drawdown = 1 - account.equity_usd / account.peak_equity_usd
        if drawdown > limits.max_drawdown_fraction:
            return RiskRejection("max_drawdown_fraction", str(limits.max_drawdown_fraction), f"{drawdown:.4f}")
    return None
