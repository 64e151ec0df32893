"""A seeded, reproducible synthetic market for one instrument.

The mid is a random walk whose variance follows GARCH(1,1) (volatility clusters); the book has a
spread of a few ticks and several levels a side whose sizes persist and drift between steps;
trades arrive as a Poisson stream, each a taker of either side sweeping levels from the touch.
Everything is driven by one :class:`random.Random`, so a seed fixes the whole path.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal

from bot.core.rounding import passive_price, size_to_lot
from bot.core.types import Book, Level, MarketFactors, Side, Trade

SECONDS_PER_YEAR = 365.0 * 24 * 3600


@dataclass(frozen=True, slots=True)
class MarketParams:
    """``price``/``tick`` in quote currency, sizes in contracts, ``annual_vol`` a fraction,
    ``step_s`` the simulated time between steps, ``trades_per_s`` the mean taker arrival rate."""

    price: float
    tick: Decimal
    lot: Decimal
    annual_vol: float = 0.6
    step_s: float = 0.1
    max_spread_ticks: int = 3
    depth_levels: int = 10
    level_size: float = 1.0
    trades_per_s: float = 10.0
    trade_size: float = 0.3
    garch_alpha: float = 0.08
    garch_beta: float = 0.9
    funding_interval_h: float = 8.0
    basis_bps: float = 2.0
    open_interest: float = 10_000.0


class SimulatedMarket:
    """One instrument's market; :meth:`step` advances it by ``params.step_s``."""

    def __init__(self, symbol: str, params: MarketParams, rng: random.Random, mid: float | None = None):
        self.symbol = symbol
        self.params = params
        self._rng = rng
        self._mid = mid if mid is not None else params.price
        self._base_var = params.annual_vol**2 * params.step_s / SECONDS_PER_YEAR
        self._var = self._base_var
        self._last_return = 0.0
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self._trade_seq = 0
        self._basis = params.basis_bps / 10_000
        self._open_interest = params.open_interest
        self._oi_history: list[float] = [params.open_interest]
        self._rebuild()

    @property
    def mid(self) -> float:
        return self._mid

    def book(self, ts: float, depth: int | None = None) -> Book:
        n = depth or self.params.depth_levels
        bids = tuple(Level(p, s) for p, s in sorted(self._bids.items(), reverse=True)[:n])
        asks = tuple(Level(p, s) for p, s in sorted(self._asks.items())[:n])
        return Book(self.symbol, bids, asks, ts)

    def step(self, ts: float) -> list[Trade]:
        """Move the mid, refresh the book, then let takers trade; returns the trade prints."""
        p = self.params
        omega = self._base_var * (1 - p.garch_alpha - p.garch_beta)
        self._var = omega + p.garch_alpha * self._last_return**2 + p.garch_beta * self._var
        self._last_return = self._rng.gauss(0.0, math.sqrt(self._var))
        self._mid *= math.exp(self._last_return)
        self._rebuild()
        trades: list[Trade] = []
        for _ in range(self._poisson(p.trades_per_s * p.step_s)):
            trades.extend(self._sweep(self._rng.choice((Side.BUY, Side.SELL)), ts))
        return trades

    def factors(self) -> MarketFactors:
        """Mean-reverting basis (mark over index), funding following the basis, an open interest
        random walk; ``open_interest_change`` over the last 60 calls (one a second: a minute)."""
        rng = self._rng
        mean = self.params.basis_bps / 10_000
        self._basis += 0.1 * (mean - self._basis) + rng.gauss(0.0, 0.5 / 10_000)
        self._open_interest = max(float(self.params.lot), self._open_interest * math.exp(rng.gauss(0.0, 0.002)))
        self._oi_history = (self._oi_history + [self._open_interest])[-61:]
        mark = self._mid
        return MarketFactors(
            funding_rate=max(-0.0075, min(0.0075, self._basis / 3)),
            funding_interval_h=self.params.funding_interval_h,
            open_interest=self._open_interest,
            open_interest_change=self._open_interest / self._oi_history[0] - 1,
            basis=self._basis, mark_price=mark, index_price=mark / (1 + self._basis),
        )

    def _rebuild(self) -> None:
        p = self.params
        spread = self._rng.randint(1, p.max_spread_ticks) * p.tick
        best_bid = passive_price(Side.BUY, Decimal(repr(self._mid)) - spread / 2, p.tick)
        best_ask = best_bid + spread
        self._bids = {best_bid - i * p.tick: self._level_size(self._bids, best_bid - i * p.tick) for i in range(p.depth_levels)}
        self._asks = {best_ask + i * p.tick: self._level_size(self._asks, best_ask + i * p.tick) for i in range(p.depth_levels)}

    def _level_size(self, side: dict[Decimal, Decimal], price: Decimal) -> Decimal:
        """A level keeps most of its size from step to step, with adds and cancels as noise."""
        lot = self.params.lot
        previous = side.get(price)
        if previous is None:
            fresh = self._rng.lognormvariate(math.log(self.params.level_size), 0.6)
        else:
            fresh = float(previous) * self._rng.uniform(0.85, 1.2) + self._rng.expovariate(1 / self.params.level_size) * 0.1
        return max(lot, size_to_lot(Decimal(repr(fresh)), lot))

    def _sweep(self, aggressor: Side, ts: float) -> list[Trade]:
        """A taker of ``aggressor`` side eats levels from the touch; one print per level touched."""
        book_side = self._asks if aggressor is Side.BUY else self._bids
        remaining = max(self.params.lot, size_to_lot(Decimal(repr(self._rng.expovariate(1 / self.params.trade_size))), self.params.lot))
        prints = []
        for price in sorted(book_side, reverse=aggressor is Side.SELL):
            if remaining <= 0:
                break
            take = min(remaining, book_side[price])
            remaining -= take
            book_side[price] -= take
            if book_side[price] <= 0:
                del book_side[price]
            self._trade_seq += 1
            prints.append(Trade(self.symbol, f"{self.symbol}-t{self._trade_seq}", price, take, aggressor, ts))
        return prints

    def _poisson(self, lam: float) -> int:
        threshold, k, prod = math.exp(-lam), 0, self._rng.random()
        while prod > threshold:
            k += 1
            prod *= self._rng.random()
        return k
