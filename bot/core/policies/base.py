"""What every policy returns, and the parameter model they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


VIEWS = frozenset({"account", "greeks", "peers"})
"""The parts of :class:`~bot.core.types.InstrumentState` that cost work across instruments; a
policy names the ones it reads so the engine builds only those (others stay at their defaults)."""


class PolicyParams(BaseModel):
    """Base of every policy's parameters: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    NEEDS: ClassVar[frozenset[str]] = VIEWS

    def needs(self) -> frozenset[str]:
        """The cross-instrument views (:data:`VIEWS`) this policy reads; all unless it says."""
        return self.NEEDS


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
