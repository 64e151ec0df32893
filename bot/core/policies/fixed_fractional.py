"""``fixed_fractional``: size so that hitting the stop loses a fixed fraction of equity.

coins = equity × risk_fraction / |entry − stop|, signed by ``direction``, then converted to
contracts at the entry price.

* equity: ``state.account.equity_usd``, else the configured ``capital_usd``.
* entry: the mid (``entry: mid``) or the position's average entry price (``avg_entry``, the mid
  while flat).
* stop: ``stop_bps`` of the entry, ``stop_atr`` × ATR (average true range of bars of
  ``atr_bar_samples`` mid samples over ``atr_bars`` bars), or an absolute ``stop_price``. The
  distance is floored at ``min_stop_bps`` of the entry so a tiny ATR cannot give a huge size.

Inverse contracts: a position of N contracts (``contract_size`` USD each) opened at E is
N × contract_size / E coins; closed at S it makes N × contract_size × (1/E − 1/S) coins, worth
(coins at entry) × (S − E) USD at S. So the same coin amount, converted at the entry price with
``contracts_for_coins``, loses the same USD at the stop as a linear position does.

A stop price at or beyond the current mid (on the losing side) gives a zero target.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from bot.core.policies._sizing import contracts_for_coins
from bot.core.policies._hedging import clean
from bot.core.policies._sizing_inputs import BPS, average_true_range, banded, current_mid, equity_usd, safe_div, sized
from bot.core.policies.base import PolicyParams, TargetDecision
from bot.core.types import InstrumentState


class Params(PolicyParams):
    NEEDS: ClassVar[frozenset[str]] = frozenset({"account"})
    type: Literal["fixed_fractional"] = "fixed_fractional"
    risk_fraction: float = Field(gt=0, le=1, description="share of equity lost at the stop, 0.01 = 1 %")
    capital_usd: float | None = Field(default=None, gt=0, description="equity used when the account is unknown, USD")
    direction: Literal["long", "short"] = "long"
    entry: Literal["mid", "avg_entry"] = Field(default="mid", description="price the stop distance is measured from")
    stop_bps: float | None = Field(default=None, gt=0, lt=10_000, description="stop distance, bps of entry")
    stop_atr: float | None = Field(default=None, gt=0, description="stop distance, multiples of the ATR")
    stop_price: float | None = Field(default=None, gt=0, description="absolute stop, quote currency")
    atr_bar_samples: int = Field(default=10, ge=1, description="mid samples per ATR bar")
    atr_bars: int = Field(default=14, ge=1, description="bars averaged in the ATR")
    min_stop_bps: float = Field(default=1.0, gt=0, description="floor on the stop distance, bps of entry")
    max_position: Decimal = Field(gt=0, description="hard cap on |target|, contracts")
    rebalance_band: float = Field(
        default=0.1, ge=0, lt=1, description="keep the current target while the new one is within this fraction of it")

    @model_validator(mode="after")
    def _one_stop(self) -> Params:
        given = [k for k in ("stop_bps", "stop_atr", "stop_price") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"stop_bps / stop_atr / stop_price: give exactly one (got {given or 'none'})")
        return self


def target(params: Params, state: InstrumentState) -> TargetDecision | None:
    """Fixed-fractional size, or ``None`` without a price, an equity or (ATR stop) enough mids."""
    mid = current_mid(state)
    equity = equity_usd(state, params.capital_usd)
    if mid is None or equity is None:
        return None
    avg = state.pnl.avg_entry_price
    entry = float(avg) if params.entry == "avg_entry" and avg is not None and avg > 0 else mid
    sign = 1 if params.direction == "long" else -1
    atr = None
    if params.stop_bps is not None:
        stop = entry * (1 - sign * params.stop_bps * BPS)
    elif params.stop_atr is not None:
        atr = average_true_range(state.mid_history, params.atr_bar_samples, params.atr_bars)
        if atr is None:
            return None
        stop = entry - sign * params.stop_atr * atr
    else:
        stop = params.stop_price  # type: ignore[assignment]
    risk_usd = equity * params.risk_fraction
    inputs = dict(equity_usd=equity, risk_usd=risk_usd, entry=entry, stop=stop, mid=mid)
    if atr is not None:
        inputs["atr"] = atr
    if sign * (mid - stop) <= 0 or sign * (entry - stop) <= 0:
        return TargetDecision(sized(state.spec, 0.0, params.max_position), "stop at or through the price",
                              inputs=clean(inputs))
    distance = max(sign * (entry - stop), entry * params.min_stop_bps * BPS)
    coins = sign * safe_div(risk_usd, distance)
    contracts = contracts_for_coins(state.spec, coins, entry)
    inputs.update(distance=distance, coins=coins)
    return banded(state, sized(state.spec, contracts, params.max_position), params.rebalance_band,
                  params.max_position,
                  f"risk {params.risk_fraction:.2%} of equity over a {distance / entry / BPS:.1f} bps stop", inputs)
