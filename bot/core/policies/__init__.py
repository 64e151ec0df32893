"""Position-scaling policies: pure functions from an instrument's state to a target position.

Every module in this package (except ``base`` and helpers starting with ``_``) is one policy:
it defines ``Params`` (a :class:`~bot.core.policies.base.PolicyParams` whose ``type`` literal
is the name used in YAML as ``policy.type``) and ``target(params, state) -> TargetDecision |
None``, where ``None`` means "not enough data yet: keep the current target". Modules are found
by name, so adding a policy is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import replace
from typing import Annotated, Any, Callable, Union

from pydantic import Field

from bot.core.policies.base import PolicyParams, TargetDecision
from bot.core.types import InstrumentState

PolicyFunction = Callable[[Any, InstrumentState], "TargetDecision | None"]

_SKIP = {"base"}


def _discover() -> dict[type[PolicyParams], PolicyFunction]:
    found: dict[type[PolicyParams], PolicyFunction] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in _SKIP or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[module.Params] = module.target
    return found


POLICIES = _discover()
POLICY_TYPES = tuple(p.model_fields["type"].default for p in POLICIES)

PolicyConfig = Annotated[Union[tuple(POLICIES)], Field(discriminator="type")]  # type: ignore[valid-type]
"""Any policy's parameters, chosen by ``type``."""


def compute_target(params: PolicyParams, state: InstrumentState) -> TargetDecision | None:
    """Run the policy that ``params`` configures; a target change it does not give an urgency
    of its own gets the policy's configured ``urgency`` (if any)."""
    decision = POLICIES[type(params)](params, state)
    if decision is not None and decision.urgency is None and params.urgency is not None:
        decision = replace(decision, urgency=params.urgency.urgency())
    return decision


__all__ = ["POLICIES", "POLICY_TYPES", "PolicyConfig", "PolicyParams", "TargetDecision", "compute_target"]
