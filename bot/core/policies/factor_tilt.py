"""``factor_tilt``: scale another policy's target by bounded multipliers of market factors.

target = base target × Π_f m_f, m_f = clip(1 + k_f · x_f, lo_f, hi_f), put on the lot grid within
``max_position``. A factor without a configured tilt, or that the venue does not report
(``None``), has m = 1. Factors x_f (from ``state.factors``):

* ``funding``: the funding rate annualised, funding_rate × 8760 / funding_interval_h (fraction/yr);
* ``open_interest``: open_interest_change (fraction over the venue's window);
* ``basis``: (mark − index) / index (fraction);
* ``liquidations``: nearby liquidations, millions of USD.

``base`` is any policy's config (``type`` and its keys), validated when this one is.
"""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from bot.core.policies._hedging import clean
from bot.core.policies._sizing import to_target
from bot.core.policies.base import PolicyParams, TargetDecision
from bot.core.types import InstrumentState, MarketFactors

HOURS_PER_YEAR = 365.0 * 24


class Tilt(PolicyParams):
    """One factor's multiplier: clip(1 + k · factor, lo, hi)."""

    k: float = Field(description="multiplier change per unit of the factor (see each factor's unit)")
    lo: float = Field(default=0.0, ge=0, description="lowest multiplier (≥ 0: a tilt never flips the side)")
    hi: float = Field(default=2.0, ge=0, description="highest multiplier")

    @model_validator(mode="after")
    def _ordered(self) -> Tilt:
        if self.lo > self.hi:
            raise ValueError(f"lo ({self.lo}) must be at most hi ({self.hi})")
        return self

    def multiplier(self, x: float) -> float:
        m = 1 + self.k * x
        if math.isnan(m):
            return 1.0
        return min(self.hi, max(self.lo, m))


class Params(PolicyParams):
    type: Literal["factor_tilt"] = "factor_tilt"
    base: dict[str, Any] = Field(description="the tilted policy's config: its type and its keys")
    funding: Tilt | None = Field(default=None, description="factor: funding rate annualised, fraction per year")
    open_interest: Tilt | None = Field(default=None, description="factor: open-interest change, fraction")
    basis: Tilt | None = Field(default=None, description="factor: (mark − index) / index, fraction")
    liquidations: Tilt | None = Field(default=None, description="factor: nearby liquidations, millions of USD")
    max_position: Decimal = Field(gt=0, description="hard cap on |target| after the tilt, contracts")

    _base: PolicyParams = PrivateAttr()

    @field_validator("base")
    @classmethod
    def _valid_base(cls, base: dict[str, Any]) -> dict[str, Any]:
        _parse(base)
        return base

    @model_validator(mode="after")
    def _store_base(self) -> Params:
        self._base = _parse(self.base)
        return self

    def needs(self) -> frozenset[str]:
        """What the base policy reads (the factors are always in the state)."""
        return self._base.needs()

    @property
    def base_params(self) -> PolicyParams:
        """The parsed ``base`` policy parameters."""
        return self._base


def _parse(base: dict[str, Any]) -> PolicyParams:
    """``base`` validated as any policy's config; a ValueError naming the nested keys if not."""
    from pydantic import TypeAdapter, ValidationError

    from bot.core.policies import PolicyConfig

    try:
        return TypeAdapter(PolicyConfig).validate_python(base)
    except ValidationError as exc:
        raise ValueError("; ".join(_nested_error(base, e) for e in exc.errors())) from None


def _nested_error(base: dict[str, Any], error: Any) -> str:
    """One nested error as ``base.key.path: message (got value)``."""
    loc = list(error["loc"])
    if loc and loc[0] == base.get("type"):
        loc = loc[1:]  # pydantic names the union member; the user wrote only the keys
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    kind = error["type"]
    if kind == "union_tag_not_found":
        return "base.type: required key is missing (the nested policy's type)"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return f"base.type: unknown policy type (got {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')})"
    if kind == "missing":
        return f"base{path}: required key is missing"
    if kind == "extra_forbidden":
        return f"base{path}: unknown key (check the spelling)"
    msg = str(error["msg"]).replace("Input should be", "must be").replace("Value error, ", "")
    if kind == "value_error" and loc == ["base"] and base.get("type") == "factor_tilt":
        return f"base.{msg}"  # a nested factor_tilt's own base error, already named from its base
    return f"base{path}: {msg} (got {error.get('input')!r})"


def factor_values(f: MarketFactors) -> dict[str, float | None]:
    """Each factor in its tilt unit, ``None`` where the venue gives nothing."""
    funding = None
    if f.funding_rate is not None and 0 < f.funding_interval_h < math.inf:
        funding = f.funding_rate * HOURS_PER_YEAR / f.funding_interval_h
    liquidations = f.liquidations_usd / 1e6 if f.liquidations_usd is not None else None
    return {"funding": funding, "open_interest": f.open_interest_change, "basis": f.basis,
            "liquidations": liquidations}


def multipliers(params: Params, factors: MarketFactors) -> tuple[float, dict[str, float]]:
    """The product of the multipliers, and each configured one with its factor value."""
    total = 1.0
    detail: dict[str, float] = {}
    for name, x in factor_values(factors).items():
        tilt: Tilt | None = getattr(params, name)
        if tilt is None:
            continue
        m = 1.0 if x is None or math.isnan(x) else tilt.multiplier(x)
        total *= m
        detail[f"{name}_mult"] = m
        if x is not None:
            detail[f"{name}_factor"] = x
    return total, detail


def target(params: Params, state: InstrumentState) -> TargetDecision | None:
    """The base policy's target × the tilt; ``None`` when the base holds."""
    from bot.core.policies import compute_target

    m, detail = multipliers(params, state.factors)
    base_state = state
    if state.target is not None and m > 0:
        # the base sees its own (untilted) previous target, so its hold logic does not compound the tilt
        base_state = dataclasses.replace(state, target=state.target / Decimal(repr(m)))
    decision = compute_target(params.base_params, base_state)
    if decision is None:
        return None
    inputs = {f"base_{k}": v for k, v in decision.inputs.items()}
    inputs.update(detail, base_target=float(decision.target), multiplier=m)
    if base_state.target is not None and decision.target == base_state.target and state.target is not None \
            and abs(state.target) <= params.max_position:
        return TargetDecision(state.target, f"{decision.rationale}; tilt ×{m:.3g} held", inputs=clean(inputs))
    new = to_target(state.spec, float(decision.target) * m, params.max_position)
    return TargetDecision(new, f"{decision.rationale}; tilt ×{m:.3g}", inputs=clean(inputs))
