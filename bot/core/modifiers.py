"""Policy modifiers: pure transforms of a policy's target, applied in the configured order.

Each one only shrinks |target| (toward zero), truncating to the lot grid, so a target within the
policy's caps stays within them. Configured per instrument as a list of ``{type: ..., ...}``.

* ``drawdown_scale``: with drawdown dd = 1 − equity / peak equity (``state.account``), scale
  the target by 1 for dd ≤ ``start``, ``min_scale`` for dd ≥ ``stop``, linearly in between.
* ``cap``: clip to ``max_long`` / ``max_short`` contracts and to ``max_notional_usd`` at the mid.

See ``docs/policies.md``.
"""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal
from typing import Annotated, ClassVar, Literal, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.core.policies._hedging import book_mid
from bot.core.policies._sizing import contracts_for_usd
from bot.core.policies.base import TargetDecision
from bot.core.rounding import size_to_lot
from bot.core.types import InstrumentState


class _Modifier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DrawdownScale(_Modifier):
    NEEDS: ClassVar[frozenset[str]] = frozenset({"account"})
    type: Literal["drawdown_scale"] = "drawdown_scale"
    start: float = Field(default=0.05, ge=0, lt=1, description="drawdown from peak equity where shrinking starts, fraction")
    stop: float = Field(default=0.20, gt=0, le=1, description="drawdown at which the scale reaches min_scale, fraction")
    min_scale: float = Field(default=0.0, ge=0, le=1, description="scale at and beyond stop, fraction of the target")

    @model_validator(mode="after")
    def _ordered(self) -> DrawdownScale:
        if self.start >= self.stop:
            raise ValueError(f"start ({self.start}) must be below stop ({self.stop})")
        return self

    def scale(self, drawdown: float) -> float:
        """1 → ``min_scale`` linearly as ``drawdown`` goes ``start`` → ``stop``; non-increasing."""
        if drawdown <= self.start:
            return 1.0
        if drawdown >= self.stop:
            return self.min_scale
        return 1.0 - (1.0 - self.min_scale) * (drawdown - self.start) / (self.stop - self.start)


class Cap(_Modifier):
    NEEDS: ClassVar[frozenset[str]] = frozenset()
    type: Literal["cap"] = "cap"
    max_long: Decimal | None = Field(default=None, ge=0, description="largest long target, contracts")
    max_short: Decimal | None = Field(default=None, ge=0, description="largest short target (magnitude), contracts")
    max_notional_usd: float | None = Field(default=None, gt=0, description="largest |target| notional at the mid, USD")

    @model_validator(mode="after")
    def _something(self) -> Cap:
        if self.max_long is None and self.max_short is None and self.max_notional_usd is None:
            raise ValueError("cap: set at least one of max_long, max_short, max_notional_usd")
        return self


ModifierConfig = Annotated[Union[DrawdownScale, Cap], Field(discriminator="type")]
"""Any modifier's parameters, chosen by ``type``."""


def drawdown(state: InstrumentState) -> float | None:
    """1 − equity / peak in [0, 1], ``None`` without a usable account view."""
    a = state.account
    if a is None or not (0 < a.peak_equity_usd < math.inf) or not math.isfinite(a.equity_usd):
        return None
    return min(1.0, max(0.0, 1.0 - a.equity_usd / a.peak_equity_usd))


def _apply_one(mod: DrawdownScale | Cap, state: InstrumentState, target: Decimal) -> tuple[Decimal, str, dict[str, float]]:
    lot = state.spec.lot_size
    if isinstance(mod, DrawdownScale):
        dd = drawdown(state)
        if dd is None:
            return target, "drawdown unknown, ×1", {}
        s = mod.scale(dd)
        return size_to_lot(target * Decimal(repr(s)), lot), f"drawdown {dd:.1%} ×{s:.3g}", \
            {"drawdown": dd, "drawdown_scale": s}
    limit_long = mod.max_long if mod.max_long is not None else abs(target)
    limit_short = mod.max_short if mod.max_short is not None else abs(target)
    inputs: dict[str, float] = {}
    mid = book_mid(state)
    if mod.max_notional_usd is not None and mid is not None:
        by_notional = abs(contracts_for_usd(state.spec, mod.max_notional_usd, mid))
        if math.isfinite(by_notional):
            limit = Decimal(repr(by_notional))
            limit_long, limit_short = min(limit_long, limit), min(limit_short, limit)
            inputs["cap_notional_contracts"] = by_notional
    capped = max(-limit_short, min(limit_long, target))
    if capped == target:
        return target, "cap not binding", inputs
    capped = size_to_lot(capped, lot)
    inputs["cap_from_contracts"] = float(target)
    return capped, f"capped {target} → {capped}", inputs


def apply_modifiers(modifiers: Sequence[DrawdownScale | Cap], state: InstrumentState,
                    decision: TargetDecision) -> TargetDecision:
    """``decision`` passed through ``modifiers`` in order; rationale and inputs extended."""
    if not modifiers:
        return decision
    target = decision.target
    notes: list[str] = []
    inputs = dict(decision.inputs)
    for i, mod in enumerate(modifiers):
        target, note, extra = _apply_one(mod, state, target)
        notes.append(note)
        for key, value in extra.items():
            inputs[key if key not in inputs else f"{key}_{i}"] = value
    inputs["pre_modifier_target"] = float(decision.target)
    return dataclasses.replace(decision, target=target, rationale=f"{decision.rationale}; {'; '.join(notes)}",
                               inputs=inputs)
