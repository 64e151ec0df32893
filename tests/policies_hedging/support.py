"""Builders for hedging/volatility policy tests: sizes in contracts, prices in USD per coin."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Iterable

from bot.core.policies._vol import SECONDS_PER_YEAR
from bot.core.types import (AccountView, Book, GreeksView, InstrumentSpec, InstrumentState, Level, MarketFactors,
                            PeerView, PnlView)

D = Decimal
INTERVAL = SECONDS_PER_YEAR / 10_000
"""One sample every 1/10 000 of a year: annualised vol = 100 × per-sample vol."""


def spec(symbol: str = "BTC-PERP", **overrides) -> InstrumentSpec:
    """A linear instrument, 1 coin per contract, lot 0.001."""
    fields = dict(symbol=symbol, tick_size=D("0.5"), lot_size=D("0.001"), min_size=D("0.001"))
    fields.update(overrides)
    return InstrumentSpec(**fields)


LINEAR = spec()
INVERSE = spec(contract_size=D("100"), lot_size=D("1"), inverse=True)


def book(mid: float = 50_000.0, half_spread: float = 1.0, symbol: str = "BTC-PERP") -> Book:
    bid, ask = D(repr(mid)) - D(repr(half_spread)), D(repr(mid)) + D(repr(half_spread))
    return Book(symbol, (Level(bid, D(1)),), (Level(ask, D(1)),), 0.0)


def mids_from_returns(returns: Iterable[float], start: float = 100.0) -> tuple[float, ...]:
    out = [start]
    for r in returns:
        out.append(out[-1] * math.exp(r))
    return tuple(out)


ALTERNATING = mids_from_returns([0.004, -0.004] * 15)
"""|r| = 0.4 % every sample: every estimator gives 0.4 % per sample = 40 % annualised at INTERVAL."""


def state(mids: Iterable[float] = ALTERNATING, *, instrument: InstrumentSpec = LINEAR, mid: float | None = 50_000.0,
          bk: Book | None = None, position: Decimal = D(0), target: Decimal | None = None,
          interval: float = INTERVAL, greeks: GreeksView | None = None, peers: tuple[PeerView, ...] = (),
          pnl: PnlView | None = None, account: AccountView | None = None,
          factors: MarketFactors | None = None, now: float = 0.0) -> InstrumentState:
    if bk is None and mid is not None:
        bk = book(mid, symbol=instrument.symbol)
    return InstrumentState(instrument, now, position, bk, tuple(mids), interval, 0.0, target=target,
                           pnl=pnl or PnlView(), account=account, factors=factors or MarketFactors(),
                           greeks=greeks or GreeksView(), peers=peers)


def on_grid(target: Decimal, instrument: InstrumentSpec = LINEAR) -> bool:
    return target % instrument.lot_size == 0


def all_finite(inputs: dict[str, float]) -> bool:
    return all(isinstance(v, float) and math.isfinite(v) for v in inputs.values())
