"""The portfolio around the engines: account equity, the options book's Greeks and peer data.

Each engine asks it for the cross-instrument parts of the state its policy sees. Equity is the
configured capital plus every instrument's realised and unrealised P&L net of fees (USD); its peak
and the value at the start of the UTC day are tracked for drawdown and daily-loss limits.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

from bot.core.greeks.venue_conventions import GreekDifference
from bot.core.types import AccountView, GreeksView, InstrumentSpec, PeerView, PnlView
from bot.log import get_logger
from bot.venues.base import OptionGreeksUpdate, PositionDeltaUpdate

if TYPE_CHECKING:  # the options book and Black-76 need numpy: loaded only with options (held or traded)
    from bot.core.options_book import OptionPosition, OptionsBook

SECONDS_PER_DAY = 86_400.0
SECONDS_PER_YEAR = 365 * SECONDS_PER_DAY


class Member(Protocol):
    """What the portfolio reads from an engine."""

    symbol: str
    spec: InstrumentSpec

    def mid(self) -> float | None: ...

    def position_contracts(self) -> float: ...

    def realised_vol(self) -> float | None: ...

    def pnl_view(self) -> PnlView: ...


class Portfolio:
    def __init__(self, capital_usd: float, options: list[OptionPosition], greeks_source: str = "local",
                 greeks_tolerance: float = 0.05, delta_unit: str = "coin", coin_balance: dict[str, float] | None = None,
                 venue_max_age_s: float | None = None):
        """``venue_max_age_s`` ``None``: the options book's default
        (:data:`~bot.core.options_book.VENUE_MAX_AGE_S`)."""
        self.capital_usd = capital_usd
        self.options: OptionsBook | None = None
        """The options held (``None`` without any: no numpy for a perp-only process)."""
        if options:
            from bot.core import options_book
            self.options = options_book.OptionsBook(
                options, source=greeks_source, tolerance=greeks_tolerance, delta_unit=delta_unit,
                venue_max_age_s=options_book.VENUE_MAX_AGE_S if venue_max_age_s is None else venue_max_age_s)
        self._collateral = (coin_balance or {}) if delta_unit == "usd_pnl" else {}
        self._log = get_logger()
        self.members: dict[str, Member] = {}
        self._peak = capital_usd
        self._day: int | None = None
        self._day_start = capital_usd

    def on_venue_greeks(self, update: OptionGreeksUpdate) -> None:
        """Take a venue's option Greeks; log each Greek where local and venue values disagree."""
        if self.options is not None:
            self._log_mismatches(update.symbol, self.options.set_venue(update.symbol, update.greeks, update.ts))

    def on_venue_position_delta(self, update: PositionDeltaUpdate) -> None:
        """Take the venue's delta of an option position (the ``venue`` Greeks source uses it while
        fresh); log ``position_delta`` where it disagrees with the local one."""
        if self.options is not None:
            differences = self.options.set_venue_position(update.symbol, update.delta_coin, update.size_coin,
                                                          update.ts)
            self._log_mismatches(update.symbol, differences)

    def _log_mismatches(self, option: str, differences: list[GreekDifference]) -> None:
        for d in differences:
            self._log.warning("greeks.mismatch", option=option, greek=d.name, local=d.local, venue=d.venue,
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
        """Greeks on ``member``'s underlying from the options book and every *other* instrument,
        plus those of one contract of ``member``."""
        spec = member.spec
        forward = self._underlying_price(member)
        if forward is None:
            return GreeksView()
        delta = gamma = vega = theta = 0.0
        if self.options is not None:
            book = self.options.greeks(spec.base, forward, now)
            delta, gamma, vega, theta = (book.delta_coin, book.gamma_coin, book.vega_usd_per_vol_point,
                                         book.theta_usd_per_day)
        for m in self.members.values():
            if m.symbol != member.symbol and m.spec.base == spec.base:
                unit = self._unit_greeks(m, forward, now)
                size = m.position_contracts()
                delta, gamma, vega, theta = (delta + size * unit[0], gamma + size * unit[1], vega + size * unit[2],
                                             theta + size * unit[3])
        own = self._unit_greeks(member, forward, now)
        return GreeksView(
            delta_coin=delta + self._collateral.get(spec.base, 0.0), gamma_coin=gamma,
            vega_usd_per_vol_point=vega, theta_usd_per_day=theta,
            instrument_delta_coin=own[0], instrument_vega_usd_per_vol_point=own[2],
        )

    def _underlying_price(self, member: Member) -> float | None:
        """The underlying's price (USD per coin): ``member``'s own mid unless it is an option,
        else the mid of another non-option instrument on the same base; ``None`` if none has one."""
        for m in (member, *self.members.values()):
            mid = m.mid()
            if m.spec.base == member.spec.base and m.spec.option is None and mid and math.isfinite(mid):
                return mid
        return None

    def _unit_greeks(self, member: Member, forward: float, now: float) -> tuple[float, float, float, float]:
        """Delta (coins), gamma (coins per USD), vega (USD per vol point) and theta (USD per day)
        of one contract of ``member``. Options are valued with Black-76 at the vol implied by
        their own mid (their fallback IV until there is one)."""
        spec = member.spec
        size = float(spec.contract_size)
        terms = spec.option
        if terms is None:
            mid = member.mid() or forward
            return (size / mid if spec.inverse else size), 0.0, 0.0, 0.0
        from bot.core.greeks import black76, implied_vol_black76  # numpy: only for a traded option
        t = (terms.expiry_ts - now) / SECONDS_PER_YEAR
        vol = terms.fallback_iv
        mid = member.mid()
        if mid and t > 0:
            price_usd = mid * forward if terms.coin_settled else mid
            implied = float(implied_vol_black76(price_usd, forward, terms.strike, t, is_call=terms.is_call).vol)
            vol = implied if math.isfinite(implied) and implied > 0 else vol
        g = black76(forward, terms.strike, t, vol, is_call=terms.is_call)
        delta = float(g.delta) - (float(g.price) / forward if terms.coin_settled else 0.0)
        return size * delta, size * float(g.gamma), size * float(g.vega_per_point), size * float(g.theta_per_day)

    def peers(self, member: Member) -> tuple[PeerView, ...]:
        return tuple(PeerView(m.symbol, m.mid() or 0.0, m.realised_vol())
                     for m in self.members.values() if m.symbol != member.symbol)
