"""What every policy returns, and the parameter model they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from bot.core.planner import Urgency


VIEWS = frozenset({"account", "greeks", "peers"})
"""The parts of :class:`~bot.core.types.InstrumentState` that cost work across instruments; a
policy names the ones it reads so the engine builds only those (others stay at their defaults)."""


class UrgencyParams(BaseModel):
    """How hard a target change is pushed (configuration of :class:`~bot.core.planner.Urgency`);
    times in seconds after the target changed."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    escalate_after_s: float | None = Field(default=None, gt=0, description="then step the quote a tick inward")
    step_every_s: float = Field(default=5.0, gt=0, description="seconds per further tick inward")
    deadline_s: float | None = Field(default=None, gt=0, description="then cross the rest with IOC limits")
    hard_band: Decimal | None = Field(default=None, gt=0, description="contracts; a larger difference crosses")
    cross_band_bps: Decimal = Field(default=Decimal(10), gt=0, description="IOC limit past the far touch, bps")
    flow_share: float | None = Field(
        default=None, gt=0, description="queue-aware urgency (needs deadline_s): behind when the queue ahead plus "
                                        "what is left exceeds this share of the volume expected to trade against "
                                        "our side before the deadline")

    def urgency(self) -> Urgency:
        return Urgency(self.escalate_after_s, self.step_every_s, self.deadline_s, self.hard_band, self.cross_band_bps,
                       self.flow_share)


class PolicyParams(BaseModel):
    """Base of every policy's parameters: immutable, unknown keys rejected.

    ``urgency``, when set, goes with every target change this policy makes and overrides the
    instrument's ``execution.urgency`` for it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    NEEDS: ClassVar[frozenset[str]] = VIEWS
    urgency: UrgencyParams | None = None

    def needs(self) -> frozenset[str]:
        """The cross-instrument views (:data:`VIEWS`) this policy reads; all unless it says."""
        return self.NEEDS


@dataclass(frozen=True, slots=True)
class TargetDecision:
    """A policy's answer: the target position in ``unit`` and why.

    ``target`` is signed (long positive), already on the instrument's lot grid. ``inputs`` holds
    the numbers that explain it, for the ``target.computed`` log event. ``urgency`` is how hard
    this target change is to be worked (its deadline); ``None``: the instrument's default.
    """

    target: Decimal
    rationale: str
    unit: str = "contracts"
    inputs: dict[str, float] = field(default_factory=dict)
    urgency: Urgency | None = None
