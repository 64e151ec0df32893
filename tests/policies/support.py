"""Builders and invariants shared by the sizing-policy tests (sizes in contracts, prices in quote)."""

from __future__ import annotations

import math
from decimal import Decimal

from hypothesis import strategies as st

from bot.core.policies.base import TargetDecision
from bot.core.types import AccountView, Book, InstrumentSpec, InstrumentState, Level, PnlView

D = Decimal
LINEAR = InstrumentSpec("BTC-PERP", tick_size=D("0.5"), lot_size=D("0.001"), min_size=D("0.001"))
INVERSE = InstrumentSpec("BTC-USD", tick_size=D("0.5"), lot_size=D("1"), min_size=D("1"),
                         contract_size=D("100"), inverse=True)
COARSE = InstrumentSpec("ETH-PERP", tick_size=D("0.01"), lot_size=D("0.1"), min_size=D("0.1"),
                        contract_size=D("0.01"))
SPECS = (LINEAR, INVERSE, COARSE)


def book_at(mid: float) -> Book:
    """A one-level book whose mid is exactly ``mid``."""
    price = D(repr(mid))
    return Book("X", (Level(price, D(1)),), (Level(price, D(1)),), 0.0)


def make_state(mid: float | None = 50_000.0, *, spec: InstrumentSpec = LINEAR, mids=(), position="0",
               target: str | Decimal | None = None, target_set_ts: float | None = None, now: float = 1_000.0,
               started: float = 0.0, interval: float = 1.0, pnls=(), avg_entry: float | None = None,
               equity: float | None = None) -> InstrumentState:
    pnl = PnlView(avg_entry_price=None if avg_entry is None else D(repr(avg_entry)),
                  closed_trade_pnls_usd=tuple(pnls))
    account = None if equity is None else AccountView(equity, equity, equity)
    return InstrumentState(spec, now, D(position), None if mid is None else book_at(mid), tuple(mids), interval,
                           started, target=None if target is None else D(target), target_set_ts=target_set_ts,
                           pnl=pnl, account=account)


def check(decision: TargetDecision | None, spec: InstrumentSpec, cap: Decimal) -> Decimal | None:
    """The invariants of every decision: on the lot grid, within ±cap, finite inputs; its target."""
    if decision is None:
        return None
    t = decision.target
    assert t.is_finite()
    assert abs(t) <= cap, (t, cap)
    assert t % spec.lot_size == 0, (t, spec.lot_size)
    assert not t.is_signed() or t != 0, "negative zero"
    assert decision.unit == "contracts"
    for key, value in decision.inputs.items():
        assert isinstance(value, float) and math.isfinite(value), (key, value)
    return t


prices = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
wide_prices = st.floats(min_value=1e-300, max_value=1e300, allow_nan=False, allow_infinity=False)
pnl_values = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
wide_pnls = st.floats(allow_nan=False, allow_infinity=False)
specs = st.sampled_from(SPECS)
caps = st.sampled_from([D("1"), D("7.5"), D("1000"), D("1000000")])
histories = st.lists(prices, min_size=0, max_size=60).map(tuple)
targets = st.one_of(st.none(), st.integers(-50_000, 50_000).map(lambda n: D(n) / 10))
positions = st.integers(-50_000, 50_000).map(lambda n: D(n) / 10)


@st.composite
def states(draw, min_mids: int = 0) -> InstrumentState:
    """Any state with finite positive prices and finite P&L and equity (book may be missing):
    mostly realistic magnitudes, sometimes anything a float can hold."""
    wide = draw(st.integers(0, 3)) == 0  # a quarter of the time
    price, pnl = (wide_prices, wide_pnls) if wide else (prices, pnl_values)
    equity = st.floats(allow_nan=False, allow_infinity=False) if wide else st.floats(-1e9, 1e12)
    spec = draw(specs)
    mids = tuple(draw(st.lists(price, min_size=min_mids, max_size=60)))
    mid = draw(st.one_of(st.none(), price))
    now = draw(st.floats(0, 1e6))
    return InstrumentState(
        spec, now, draw(positions), None if mid is None else book_at(mid), mids,
        draw(st.floats(1e-3, 3600)), draw(st.floats(0, 1e6)), target=draw(targets),
        target_set_ts=draw(st.one_of(st.none(), st.floats(0, 1e6))),
        pnl=PnlView(avg_entry_price=draw(st.one_of(st.none(), price.map(lambda p: D(repr(p))))),
                    closed_trade_pnls_usd=tuple(draw(st.lists(pnl, max_size=40)))),
        account=draw(st.one_of(st.none(), st.builds(lambda e: AccountView(e, e, e), equity))),
    )
