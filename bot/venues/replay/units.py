"""Recorded amounts to contracts.

Recordings state sizes in the venue's own amount unit, not in contracts: Tardis.dev and
``scalebot record`` files give Deribit perpetuals and futures in USD (the quote currency; inverse,
10 USD a BTC contract), Deribit options and Binance USDⓈ-M in coins (the base currency; linear).
A market's ``contract_size`` is in that same unit (coins for linear, USD for inverse), so a recorded
amount becomes contracts by one division: ``contracts = amount / contract_size``. A recording
already in contracts (``amount_unit: contracts``) is taken as it is.

A converted size that is not a whole number of lots means the configured ``contract_size`` or
``amount_unit`` does not describe the recording (venues only show sizes on their grid: Deribit
BTC-PERPETUAL amounts are multiples of 10 USD). That is a configuration error, raised at the first
such row, not rounded away: flooring would shrink every level and trade a little, and the queue
estimates and fills built on them, without a word.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Iterator, Literal

from bot.core.types import InstrumentSpec
from bot.errors import ConfigError
from bot.venues.replay.tardis import BookChange, MarketRecord, Quote, TradePrint

AmountUnit = Literal["contracts", "base", "quote"]
ONE = Decimal(1)


def native_unit(inverse: bool) -> AmountUnit:
    """The unit a market's ``contract_size`` is in, and recordings' amounts: quote currency
    (USD) for inverse markets, base currency (coins) for linear ones."""
    return "quote" if inverse else "base"


def check_unit(unit: AmountUnit, inverse: bool) -> None:
    """Raise :class:`ValueError` unless ``unit`` converts to contracts without a price: contracts,
    or the market's native unit (coins for linear, USD for inverse)."""
    native = native_unit(inverse)
    if unit not in ("contracts", native):
        kind = "an inverse" if inverse else "a linear"
        raise ValueError(f"amount_unit {unit!r} does not fit {kind} market (its contract_size is in "
                         f"{native} currency): use {native!r} or 'contracts'")


@dataclass(frozen=True, slots=True)
class AmountScale:
    """How one instrument's recorded amounts become contracts: ``per_contract`` recorded units
    (``unit``) make one contract; sizes must come out as whole multiples of ``lot_size``
    (contracts)."""

    symbol: str
    unit: AmountUnit
    per_contract: Decimal
    lot_size: Decimal

    @classmethod
    def for_spec(cls, spec: InstrumentSpec, unit: AmountUnit | None = None) -> AmountScale:
        """The scale for ``spec``'s recordings in ``unit`` (default: the market's native unit)."""
        unit = unit or native_unit(spec.inverse)
        check_unit(unit, spec.inverse)
        per_contract = ONE if unit == "contracts" else Decimal(spec.contract_size)
        return cls(spec.symbol, unit, per_contract, spec.lot_size)

    def contracts(self, amount: Decimal, local_us: int) -> Decimal:
        """``amount`` (recorded unit) in contracts; :class:`ConfigError` if not a whole number of lots."""
        size = amount / self.per_contract
        if size % self.lot_size:
            raise ConfigError(
                f"{self.symbol}: the recorded amount {amount} ({self.unit}) at local_timestamp {local_us} is {size} "
                f"contracts at {self.per_contract} a contract, not a multiple of the lot {self.lot_size}: check "
                f"venue.markets.{self.symbol}.contract_size and amount_unit against the recording")
        return size

    def convert(self, record: MarketRecord) -> MarketRecord:
        """``record`` (book change, trade or quote) with its amounts in contracts."""
        if isinstance(record, BookChange):
            return replace(record, amount=self.contracts(record.amount, record.local_us))
        if isinstance(record, TradePrint):
            trade = replace(record.trade, size=self.contracts(record.trade.size, record.local_us))
            return replace(record, trade=trade)
        return self._quote(record)

    def _quote(self, quote: Quote) -> Quote:
        def size(amount: Decimal | None) -> Decimal | None:
            return None if amount is None else self.contracts(amount, quote.local_us)

        return replace(quote, bid_amount=size(quote.bid_amount), ask_amount=size(quote.ask_amount))


def in_contracts(records: Iterator[MarketRecord], scale: AmountScale) -> Iterator[MarketRecord]:
    """``records`` with every amount in contracts; the same iterator where one recorded unit is
    one contract (no conversion, nothing to check)."""
    if scale.per_contract == ONE:
        return records
    return (scale.convert(record) for record in records)
