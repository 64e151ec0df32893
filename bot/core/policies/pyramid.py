"""``pyramid``: add to a winning position in decreasing increments, with a trailing stop.

Enter ``base_size`` from flat. Add number ``k`` (1 … ``max_adds``) is ``base_size × add_decay^k``
contracts, so after ``k`` adds the size is ``base_size × (1 + d + … + d^k)``. An add is made when
the price is at least ``add_every_bps`` in favour of the **current** average entry price and the
position has caught up with the target (the previous add is filled, so the avg entry includes
it). Each add lifts the avg entry, so the next one needs a further move.

The whole position is closed when the price falls ``trail_bps`` from the best mid since the
target was last set (entry or latest add) — see the limitation below. After the exit it
re-enters from flat (``reenter``, after ``cooldown_s``).

The number of adds done is read from the current target (the largest ladder size it reaches), so
the target only ratchets up within a trade and a retracement never removes an add.

The best price is the engine's ``pnl.best_mid_since_entry`` (every book update since the position
opened); without it (a state built by hand) the best of the mids sampled since the last target
change stands in.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from bot.core.policies._sizing_inputs import mids_since, signed_move_bps, sized
from bot.core.policies._trade_cycle import Cycle, TradeCycleParams, cycle, decide, hold
from bot.core.policies.base import TargetDecision
from bot.core.types import InstrumentState


class Params(TradeCycleParams):
    NEEDS: ClassVar[frozenset[str]] = frozenset()
    type: Literal["pyramid"] = "pyramid"
    add_every_bps: float = Field(gt=0, description="favourable move from the avg entry that triggers an add, bps")
    add_decay: float = Field(default=0.5, gt=0, le=1, description="each add is this fraction of the previous one "
                                                                     "(the first is base_size × add_decay)")
    max_adds: int = Field(default=3, ge=0, le=20, description="adds per trade")
    trail_bps: float = Field(gt=0, lt=10_000, description="trailing stop on the whole position, bps from the best mid")


def ladder(params: Params) -> list[float]:
    """Size (contracts, unsigned) after 0, 1, … max_adds adds."""
    sizes, add = [float(params.base_size)], float(params.base_size)
    for _ in range(params.max_adds):
        add *= params.add_decay
        sizes.append(sizes[-1] + add)
    return sizes


def reference_ts(state: InstrumentState) -> float:
    """Start of the window for the trailing stop's best price (see the module's limitation)."""
    return state.target_set_ts if state.target_set_ts is not None else state.started_ts


def target(params: Params, state: InstrumentState) -> TargetDecision | None:
    """Entry, adds and trailing stop; ``None`` without a price."""
    c = cycle(params, state)
    if c is None:
        return None
    if c.phase == "hold":
        return hold(params, state, c)
    steps = [sized(state.spec, s, params.max_position) for s in ladder(params)]
    if c.phase == "enter":
        return decide(params, state, c.sign * float(steps[0]), f"{c.reason}: base size", mid=c.mid)
    return _manage(params, state, c, steps)


def _manage(params: Params, state: InstrumentState, c: Cycle, steps: list[Decimal]) -> TargetDecision:
    assert c.entry is not None
    mids = mids_since(state, reference_ts(state))
    best = max(mids) if c.sign > 0 else min(mids)
    tracked = state.pnl.best_mid_since_entry
    if tracked is not None:
        best = max(best, tracked) if c.sign > 0 else min(best, tracked)
    drawdown = -signed_move_bps(c.mid, best, c.sign)
    size = abs(c.held)
    adds_done = sum(1 for s in steps[1:] if s <= size)
    move = signed_move_bps(c.mid, c.entry, c.sign)
    inputs = dict(mid=c.mid, avg_entry=c.entry, best_mid=best, move_bps=move, drawdown_bps=drawdown,
                  adds_done=adds_done)
    if drawdown >= params.trail_bps:
        return decide(params, state, 0, f"trailing stop: {drawdown:.1f} bps off the best mid", **inputs)
    caught_up = abs(state.position) >= size
    if adds_done < params.max_adds and caught_up and move >= params.add_every_bps:
        new = steps[adds_done + 1]
        if new > size:
            return decide(params, state, c.sign * new, f"add {adds_done + 1}/{params.max_adds}: "
                          f"{move:+.1f} bps from avg entry", **inputs)
    why = ("all adds done" if adds_done >= params.max_adds else
           "waiting for the last add to fill" if not caught_up else "waiting for the next favourable move")
    return decide(params, state, c.held, why, **inputs)
