"""The portfolio around the engines: account equity, the options book's Greeks and peer data.

Each engine asks it for the cross-instrument parts of the state its policy sees. Equity is the
configured capital plus every instrument's realised and unrealised P&L net of fees (USD); its peak
and the value at the start of the UTC day are tracked for drawdown and daily-loss limits.
"""

from __future__ import annotations

import math
from typing import Protocol

from bot.core.options_book import OptionPosition, OptionsBook
from bot.core.types import AccountView, GreeksView, InstrumentSpec, PeerView, PnlView
from bot.log import get_logger
from bot.venues.base import OptionGreeksUpdate

SECONDS_PER_DAY = 86_400.0


class Member(Protocol):
    """What the portfolio reads from an engine."""

    symbol: str
    spec: InstrumentSpec

    def mid(self) -> float | None: ...

    def coin_exposure(self) -> float: ...

    def realised_vol(self) -> float | None: ...

    def pnl_view(self) -> PnlView: ...


class Portfolio:
    def __init__(self, capital_usd: float, options: list[OptionPosition], greeks_source: str = "local",
                 greeks_tolerance: float = 0.05, delta_unit: str = "coin", coin_balance: dict[str, float] | None = None):
        self.capital_usd = capital_usd
        self.options = OptionsBook(options, source=greeks_source, tolerance=greeks_tolerance, delta_unit=delta_unit)
        self._collateral = (coin_balance or {}) if delta_unit == "usd_pnl" else {}
        self._log = get_logger()
        self.members: dict[str, Member] = {}
        self._peak = capital_usd
        self._day: int | None = None
        self._day_start = capital_usd

    def on_venue_greeks(self, update: OptionGreeksUpdate) -> None:
        """Take a venue's option Greeks; log each Greek where local and venue values disagree."""
        for d in self.options.set_venue(update.symbol, update.greeks, update.ts):
            self._log.warning("greeks.mismatch", option=update.symbol, greek=d.name, local=d.local, venue=d.venue,
                              rel_diff=round(d.rel_diff, 6))

    def add(self, member: Member) -> None:
        self.members[member.symbol] = member

    def account(self, now: float) -> AccountView:
        equity = self.capital_usd
        for m in self.members.values():
            pnl = m.pnl_view()
            equity += pnl.realized_pnl_usd + pnl.unrealized_pnl_usd - pnl.fees_usd
        day = math.floor(now / SECONDS_PER_DAY)
        if day != self._day:
            self._day, self._day_start = day, equity
        self._peak = max(self._peak, equity)
        return AccountView(equity, self._peak, self._day_start)

    def greeks(self, member: Member, now: float) -> GreeksView:
        """Greeks on ``member``'s underlying from the options book and every *other* instrument."""
        spec = member.spec
        mid = member.mid()
        if not mid or not math.isfinite(mid):
            return GreeksView()
        book = self.options.greeks(spec.base, mid, now)
        others = sum(m.coin_exposure() for m in self.members.values()
                     if m.symbol != member.symbol and m.spec.base == spec.base)
        one_contract = float(spec.contract_size) / mid if spec.inverse else float(spec.contract_size)
        return GreeksView(
            delta_coin=book.delta_coin + others + self._collateral.get(spec.base, 0.0),
            gamma_coin=book.gamma_coin,
            vega_usd_per_vol_point=book.vega_usd_per_vol_point,
            theta_usd_per_day=book.theta_usd_per_day,
            instrument_delta_coin=one_contract,
        )

    def peers(self, member: Member) -> tuple[PeerView, ...]:
        return tuple(PeerView(m.symbol, m.mid() or 0.0, m.realised_vol())
                     for m in self.members.values() if m.symbol != member.symbol)
