"""Execution quality of one parent order (one target change), as pure functions.

A **parent order** is the difference between a new target and the position when the target was
set: ``quantity`` contracts to buy (positive) or sell (negative), with the book's mid at that
moment as the **arrival mid**. Its child orders' fills are measured against that mid.

Sign convention: every cost is in **basis points of the arrival notional, positive = a cost**
(negative = a gain), whichever the side:

* ``shortfall_bps`` (price only, on the filled part) = side × (average fill price − arrival mid)
  / arrival mid × 10⁴; a buy filled above the arrival mid, or a sell below it, costs;
* ``fee_bps`` = fees paid / arrival notional of the filled size × 10⁴ (a rebate is negative);
* ``opportunity_bps`` = side × (end mid − arrival mid) / arrival mid × 10⁴ on the part never
  filled (the move the order missed), ``end mid`` being the mid when the parent ended (the next
  target change, or the end of the run);
* ``total_cost_bps`` = (shortfall + fees) on the filled part plus the opportunity cost on the
  rest, each weighted by its share of the quantity: Perold's implementation shortfall, fees
  included. For a completed parent it is ``shortfall_bps + fee_bps``.

For an inverse contract (``contract_size`` USD each) a fill's cost is size × contract_size ×
(price − arrival) / price USD, its average price the contract-weighted harmonic mean, and its
coin fees are converted at the arrival mid. ``fees`` are reported in the settlement currency.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, Iterable, Sequence

from bot.core.rounding import size_to_lot
from bot.core.types import ZERO, Fill, InstrumentSpec, Side

BPS = 10_000.0


@dataclass(frozen=True, slots=True)
class ParentOrder:
    """One target change. ``quantity`` signed contracts (target − position at ``start_ts``);
    ``arrival_mid`` quote currency; ``deadline_ts`` (s) when the execution had to be done, if any."""

    parent_id: str
    symbol: str
    start_ts: float
    arrival_mid: Decimal
    start_position: Decimal
    target: Decimal
    deadline_ts: float | None = None

    @property
    def quantity(self) -> Decimal:
        return self.target - self.start_position

    @property
    def side(self) -> Side:
        return Side.of(self.quantity)


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """How one parent order went; costs in bps of arrival notional (positive = cost), sizes in
    contracts, times in seconds, ``fees`` in ``fee_currency``."""

    parent_id: str
    symbol: str
    side: str
    quantity: Decimal
    filled: Decimal
    arrival_mid: Decimal
    avg_price: Decimal | None
    shortfall_bps: float | None
    fees: Decimal
    fee_currency: str
    fee_bps: float | None
    opportunity_bps: float
    total_cost_bps: float
    maker_share: float | None
    fills: int
    order_actions: int
    start_ts: float
    end_ts: float
    completed: bool
    completed_ts: float | None
    time_to_complete_s: float | None
    deadline_ts: float | None
    deadline_met: bool | None
    """``None``: no deadline, or superseded before it came (see :func:`deadline_outcome`)."""

    def as_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()}


def is_done(spec: InstrumentSpec, remaining: Decimal, price: Decimal | None) -> bool:
    """True when what is left (contracts, signed) is below what the venue accepts as an order
    (a lot, the minimum size, or the minimum notional at ``price``)."""
    size = abs(size_to_lot(remaining, spec.lot_size))
    if size == 0 or size < spec.min_size:
        return True
    return price is not None and price > 0 and spec.notional(size, price) < spec.min_notional


def average_price(fills: Sequence[Fill], spec: InstrumentSpec) -> Decimal | None:
    """Size-weighted average fill price (harmonic for inverse contracts); ``None`` without fills."""
    size = sum((f.size for f in fills), ZERO)
    if size == 0:
        return None
    if spec.inverse:
        return size / sum((f.size / f.price for f in fills), ZERO)
    return sum((f.size * f.price for f in fills), ZERO) / size


def _value(spec: InstrumentSpec, size: Decimal, price: Decimal, arrival: Decimal) -> Decimal:
    """What buying ``size`` contracts at ``price`` instead of ``arrival`` costs, quote currency."""
    if spec.inverse:
        return size * spec.contract_size * (price - arrival) / price
    return size * spec.contract_size * (price - arrival)


def _arrival_notional(spec: InstrumentSpec, size: Decimal, arrival: Decimal) -> Decimal:
    return size * spec.contract_size if spec.inverse else size * spec.contract_size * arrival


def execution_report(
    parent: ParentOrder,
    fills: Sequence[Fill],
    spec: InstrumentSpec,
    *,
    order_actions: int,
    end_ts: float,
    end_mid: Decimal | None,
    completed_ts: float | None,
) -> ExecutionReport:
    """The report of ``parent`` from the fills attributed to it.

    Costs are cash amounts over the arrival notional: each fill costs side × size × (price −
    arrival mid) (per contract value for inverse contracts), fees are converted to quote currency
    at the arrival mid, and the part not filled costs the missed move to ``end_mid``. A fill on
    the other side (a late fill of an earlier target's order) counts in the costs and reduces the
    filled size; the average price and maker share are those of the parent's own side.
    """
    quantity = abs(parent.quantity)
    side = parent.side
    arrival = parent.arrival_mid
    mine = [f for f in fills if f.side is side]
    filled = max(sum((f.size * f.side.sign * side.sign for f in fills), ZERO), ZERO)
    price_cost = sum((f.side.sign * _value(spec, f.size, f.price, arrival) for f in fills), ZERO)
    fees = sum((f.fee for f in fills), ZERO)
    fees_quote = fees * arrival if spec.inverse else fees
    unfilled = max(quantity - filled, ZERO)
    end = end_mid if end_mid is not None else arrival
    missed = side.sign * _value(spec, unfilled, end, arrival)
    filled_notional = _arrival_notional(spec, filled, arrival)
    shortfall = float(price_cost / filled_notional) * BPS if filled_notional > 0 else None
    fee_bps = float(fees_quote / filled_notional) * BPS if filled_notional > 0 else None
    unfilled_notional = _arrival_notional(spec, unfilled, arrival)
    opportunity = float(missed / unfilled_notional) * BPS if unfilled_notional > 0 else 0.0
    total_notional = _arrival_notional(spec, quantity, arrival)
    total = float((price_cost + fees_quote + missed) / total_notional) * BPS if total_notional > 0 else 0.0
    gross = sum((f.size for f in mine), ZERO)
    maker = sum((f.size for f in mine if f.liquidity == "maker"), ZERO)
    completed = completed_ts is not None
    return ExecutionReport(
        parent_id=parent.parent_id, symbol=parent.symbol, side=side.value, quantity=quantity, filled=filled,
        arrival_mid=arrival, avg_price=average_price(mine, spec), shortfall_bps=shortfall, fees=fees,
        fee_currency=spec.settle, fee_bps=fee_bps, opportunity_bps=opportunity, total_cost_bps=total,
        maker_share=float(maker / gross) if gross > 0 else None, fills=len(fills), order_actions=order_actions,
        start_ts=parent.start_ts, end_ts=end_ts, completed=completed, completed_ts=completed_ts,
        time_to_complete_s=None if completed_ts is None else completed_ts - parent.start_ts,
        deadline_ts=parent.deadline_ts, deadline_met=deadline_outcome(parent.deadline_ts, completed_ts, end_ts),
    )


def deadline_outcome(deadline_ts: float | None, completed_ts: float | None, end_ts: float) -> bool | None:
    """True if completed by the deadline, False if completed later or still not done when the
    deadline passed, ``None`` without a deadline or when the parent ended (superseded by a new
    target) before its deadline, undone."""
    if deadline_ts is None:
        return None
    if completed_ts is not None:
        return completed_ts <= deadline_ts
    return False if end_ts >= deadline_ts else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0–1) with linear interpolation; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(reports: Iterable[ExecutionReport]) -> dict[str, Any]:
    """Aggregates over parent orders: cost mean/p50/p90 (bps, equal weight per parent), maker
    share by filled size, completion, deadlines met, time to complete and order actions."""
    rs = list(reports)
    costs = [r.total_cost_bps for r in rs]
    filled = sum((r.filled for r in rs), ZERO)
    maker = sum((r.filled * Decimal(repr(r.maker_share)) for r in rs if r.maker_share is not None), ZERO)
    times = [r.time_to_complete_s for r in rs if r.time_to_complete_s is not None]
    with_deadline = [r for r in rs if r.deadline_met is not None]
    shortfalls = [r.shortfall_bps for r in rs if r.shortfall_bps is not None]
    return {
        "parents": len(rs),
        "completed": sum(r.completed for r in rs),
        "cost_bps_mean": sum(costs) / len(costs) if costs else None,
        "cost_bps_p50": percentile(costs, 0.5),
        "cost_bps_p90": percentile(costs, 0.9),
        "shortfall_bps_mean": sum(shortfalls) / len(shortfalls) if shortfalls else None,
        "maker_share": float(maker / filled) if filled > 0 else None,
        "deadlines": len(with_deadline),
        "deadlines_met": sum(bool(r.deadline_met) for r in with_deadline),
        "time_to_complete_s_mean": sum(times) / len(times) if times else None,
        "time_to_complete_s_p90": percentile(times, 0.9),
        "order_actions_per_parent": sum(r.order_actions for r in rs) / len(rs) if rs else None,
    }
