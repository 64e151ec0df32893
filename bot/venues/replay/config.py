"""``venue: {type: replay, ...}``: recorded market data replayed through the venue interface.

Strict like the rest of the configuration (unknown keys rejected). Kept free of ``bot.config``
so that module can import it into its venue union.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.core.fill_model import QueueModel
from bot.core.types import InstrumentSpec
from bot.venues.replay.units import AmountUnit, check_unit


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ReplayMarketConfig(_Model):
    """One recorded instrument's contract terms (the recording does not carry them)."""

    tick_size: Decimal = Field(gt=0, description="quote currency")
    lot_size: Decimal = Field(gt=0, description="contracts")
    min_size: Decimal | None = Field(default=None, gt=0, description="contracts; default one lot")
    min_notional: Decimal = Field(default=Decimal(0), ge=0, description="quote currency (coin if inverse)")
    contract_size: Decimal = Field(default=Decimal(1), gt=0, description="coins (linear) or USD (inverse)")
    inverse: bool = False
    base: str = "BTC"
    quote: str = "USDT"
    maker_fee_bps: Decimal = Field(default=Decimal(2), description="negative for a rebate")
    taker_fee_bps: Decimal = Decimal(5)
    amount_unit: AmountUnit | None = Field(
        default=None,
        description="unit of the recording's amounts: contracts; base = coins (linear markets only); quote = "
                    "USD (inverse markets only); default the market's own (base if linear, quote if inverse), "
                    "as in Tardis and `scalebot record` files")

    @model_validator(mode="after")
    def _amount_unit_fits(self) -> ReplayMarketConfig:
        if self.amount_unit is not None:
            check_unit(self.amount_unit, self.inverse)
        return self

    def spec(self, symbol: str) -> InstrumentSpec:
        return InstrumentSpec(
            symbol=symbol, tick_size=self.tick_size, lot_size=self.lot_size,
            min_size=self.min_size or self.lot_size, min_notional=self.min_notional,
            contract_size=self.contract_size, inverse=self.inverse, base=self.base, quote=self.quote,
            maker_fee_bps=self.maker_fee_bps, taker_fee_bps=self.taker_fee_bps,
        )


class QueueModelConfig(_Model):
    """How cancels at our price level split around our order (see :mod:`bot.core.fill_model`)."""

    model: Literal["conservative", "power", "log"] = Field(
        default="power", description="conservative: cancels all come from behind us")
    power: float = Field(default=2.0, gt=0, description="n of the power model")

    def queue_model(self) -> QueueModel:
        return QueueModel(self.model, self.power)


class ReplayVenueConfig(_Model):
    type: Literal["replay"] = "replay"
    markets: dict[str, ReplayMarketConfig] = Field(min_length=1, description="symbol as in the recording")
    queue: QueueModelConfig = QueueModelConfig()
    order_entry_latency_ms: float = Field(
        default=50.0, ge=0, description="from sending an order or amend to its arrival at the matching engine")
    cancel_latency_ms: float = Field(default=50.0, ge=0, description="from sending a cancel to its taking effect")
    book_depth: int = Field(default=50, ge=1, le=5000, description="levels a side in each book the venue streams")

    def specs(self) -> dict[str, InstrumentSpec]:
        return {symbol: market.spec(symbol) for symbol, market in self.markets.items()}

    def amount_units(self) -> dict[str, AmountUnit]:
        """The recordings' amount unit per symbol, where configured (else the market's own)."""
        return {symbol: m.amount_unit for symbol, m in self.markets.items() if m.amount_unit is not None}
