"""What every policy returns, and the parameter model they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class PolicyParams(BaseModel):
    """Base of every policy's parameters: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class TargetDecision:
    """A policy's answer: the target position in ``unit`` and why.

    ``target`` is signed (long positive), already on the instrument's lot grid. ``inputs`` holds
    the numbers that explain it, for the ``target.computed`` log event.
    """

    target: Decimal
    rationale: str
    unit: str = "contracts"
    inputs: dict[str, float] = field(default_factory=dict)
