"""``vega_neutral``: size an option leg (this instrument) to bring the book's vega to a target.

With V = ``state.greeks.vega_usd_per_vol_point`` (the book excluding this leg), v = one
contract's vega (``instrument_vega_usd_per_vol_point``), h the leg in force (current target, else
the position) and V* the target: while |V + h·v − V*| ≤ ``band_usd_per_vol_point`` keep h, else
contracts = (V* − V) / v. The delta the leg adds (contracts × ``instrument_delta_coin``) is
reported in ``inputs`` (``leg_delta_coin``, ``book_delta_after_coin``); hedging it is the delta
hedger's job (``delta_neutral`` / ``gamma_scalp`` on the hedge instrument).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from bot.core.policies._hedging import clean, held, ratio
from bot.core.policies._sizing import to_target
from bot.core.policies.base import PolicyParams, TargetDecision
from bot.core.types import InstrumentState

MIN_CONTRACT_VEGA = 1e-12
"""Below this |vega| (USD per vol point) a contract cannot move the book's vega: hold (``None``)."""


class Params(PolicyParams):
    NEEDS: ClassVar[frozenset[str]] = frozenset({"greeks"})
    type: Literal["vega_neutral"] = "vega_neutral"
    target_vega_usd_per_vol_point: float = Field(default=0.0, description="book vega to hold, leg included, USD/vol pt")
    band_usd_per_vol_point: float = Field(default=0.0, ge=0, description="no-trade half-width, USD per vol point")
    max_position: Decimal = Field(gt=0, description="hard cap on |target|, contracts")


def target(params: Params, state: InstrumentState) -> TargetDecision | None:
    """Target leg in contracts; ``None`` while one contract's vega is unknown (zero)."""
    g = state.greeks
    v = g.instrument_vega_usd_per_vol_point
    if not math.isfinite(v) or abs(v) < MIN_CONTRACT_VEGA:
        return None
    current = held(state, params.max_position)
    deviation = g.vega_usd_per_vol_point + float(current) * v - params.target_vega_usd_per_vol_point
    if abs(deviation) <= params.band_usd_per_vol_point:
        new, why = current, f"vega {deviation:+.4g} USD/pt inside ±{params.band_usd_per_vol_point:g}; hold"
    else:
        contracts = ratio(params.target_vega_usd_per_vol_point - g.vega_usd_per_vol_point, v)
        new = to_target(state.spec, contracts, params.max_position)
        why = f"vega {deviation:+.4g} USD/pt off target: leg to {new} contracts"
    leg_delta = float(new) * g.instrument_delta_coin
    inputs = {"book_vega_usd_per_vol_point": g.vega_usd_per_vol_point, "contract_vega_usd_per_vol_point": v,
              "deviation_usd_per_vol_point": deviation,
              "vega_after_usd_per_vol_point": g.vega_usd_per_vol_point + float(new) * v,
              "contract_delta_coin": g.instrument_delta_coin, "leg_delta_coin": leg_delta,
              "book_delta_after_coin": g.delta_coin + leg_delta}
    return TargetDecision(new, why, inputs=clean(inputs))
