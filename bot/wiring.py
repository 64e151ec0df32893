"""Building the portfolio and the engines from a config: one place, for the daemon and replay."""

from __future__ import annotations

from typing import Any, Callable

from bot.config import Config
from bot.core.types import InstrumentSpec
from bot.engine import InstrumentEngine
from bot.execution_tracking import ExecutionTracker
from bot.metrics import Metrics
from bot.portfolio import Portfolio
from bot.state.base import Store
from bot.venues.base import Venue


def build_portfolio(config: Config, started_ts: float) -> Portfolio:
    """The account around the engines; option expiries count from ``started_ts`` (s)."""
    book = config.portfolio
    options = [o.position(f"option-{i}", started_ts) for i, o in enumerate(book.options)]
    return Portfolio(book.capital_usd, options, book.greeks_source, book.greeks_tolerance, book.delta_unit,
                     book.coin_balance, venue_max_age_s=book.venue_max_age_s)


def build_engines(config: Config, specs: dict[str, InstrumentSpec], *, venue: Venue, store: Store, throttler: Any,
                  clock: Callable[[], float], portfolio: Portfolio,
                  metrics: Metrics | None = None,
                  tracker: ExecutionTracker | None = None) -> dict[str, InstrumentEngine]:
    """One engine per configured instrument, keyed by symbol."""
    guards = config.engine.guards
    return {
        inst.symbol: InstrumentEngine(
            spec=specs[inst.symbol], policy=inst.policy, execution=inst.execution.params(),
            limits=inst.risk.limits(), sample_interval_s=inst.sample_interval_ms / 1000, venue=venue, store=store,
            throttler=throttler, clock=clock, portfolio=portfolio, account_limits=config.portfolio.limits(),
            modifiers=inst.modifiers, guards=inst.risk.guards(guards), account=config.engine.account,
            kill_action=guards.kill_action, flatten_urgency=guards.flatten_urgency(), metrics=metrics,
            tracker=tracker,
        )
        for inst in config.instruments
    }
