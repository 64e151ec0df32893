"""Inputs and sizing arithmetic shared by the sizing-family policies (pure, float arithmetic).

Prices in quote currency per coin, sizes in contracts, times in seconds. Divisions by zero give a
signed infinity that :func:`clip` turns into the cap, never NaN. The price, the rebalance band and
the cleaning of logged inputs come from ``_hedging``, log returns from ``_vol`` (shared with the
hedging/volatility family).
"""

from __future__ import annotations

import math
from decimal import Decimal

from bot.core.policies._hedging import clean, within_band
from bot.core.policies._hedging import price as current_mid  # the book's mid, else the latest sample
from bot.core.policies._sizing import to_target
from bot.core.policies.base import TargetDecision
from bot.core.types import InstrumentSpec, InstrumentState

BPS = 1e-4


def mean_var(xs: list[float]) -> tuple[float, float]:
    """Sample mean and (n − 1) variance of at least two finite floats of moderate size."""
    n = len(xs)
    mean = math.fsum(xs) / n
    return mean, math.fsum((x - mean) ** 2 for x in xs) / (n - 1)


def equity_usd(state: InstrumentState, capital_usd: float | None) -> float | None:
    """Account equity (USD) when the engine provides it, else the configured capital, else None.

    Negative equity is floored at zero: a blown account sizes to nothing.
    """
    if state.account is not None and math.isfinite(state.account.equity_usd):
        return max(state.account.equity_usd, 0.0)
    return capital_usd


def safe_div(numerator: float, denominator: float) -> float:
    """numerator / denominator, with x / 0 = ±inf (sign of x) and 0 / 0 = 0."""
    if denominator == 0:
        return 0.0 if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / denominator


def clip(value: float, cap: float) -> float:
    """``value`` clipped to ±``cap``; NaN gives 0 (infinity gives the cap, not zero)."""
    if math.isnan(value):
        return 0.0
    return max(-cap, min(cap, value))


def sized(spec: InstrumentSpec, contracts: float, max_position: Decimal) -> Decimal:
    """Float contracts → a target on the lot grid within ±max_position, infinity → the cap.

    A size within float noise of a whole number of lots (at most 1e-9 lot, or 1e-12 relative for
    huge sizes) is first snapped to it, so 0.6 − 0.4 = 0.19999999999999998 does not lose a lot
    in the truncation. A zero result is always +0 (``to_target`` can truncate a small negative
    size to ``-0``).
    """
    value = clip(contracts, float(max_position))
    lot = float(spec.lot_size)
    if math.isfinite(value) and lot > 0:
        lots = value / lot
        near = round(lots) if math.isfinite(lots) else 0
        if near != 0 and abs(lots - near) <= max(1e-9, 1e-12 * abs(lots)):
            value = float(Decimal(near) * spec.lot_size)
    result = to_target(spec, value, max_position)
    return abs(result) if result == 0 else result


def banded(state: InstrumentState, new: Decimal, band: float, max_position: Decimal, rationale: str,
           inputs: dict[str, float]) -> TargetDecision:
    """``new`` — unless the current target is within ``band`` (a fraction) of it: then the current
    target is kept, so small re-estimates (vol, equity, price) do not churn orders."""
    previous = state.target
    if previous is not None and previous % state.spec.lot_size == 0 and within_band(new, previous, band, max_position):
        return TargetDecision(previous, f"new {new} within {band:.0%} of the current target",
                              inputs=clean(inputs))
    return TargetDecision(new, rationale, inputs=clean(inputs))


def signed_move_bps(price: float, reference: float, sign: int) -> float:
    """Move from ``reference`` to ``price`` in bps, positive when favourable to a ``sign`` position."""
    return sign * (price / reference - 1.0) / BPS


def samples_since(state: InstrumentState, ts: float) -> int:
    """How many of the latest ``mid_history`` samples were taken at or after ``ts`` (≥ 1 when
    there is a history).

    The history carries no timestamps: sample ``j`` from the end is taken to be ``j ×
    sample_interval_s`` before ``now``. The engine samples *at least* that far apart, so this may
    reach a little before ``ts`` (never after it). A ``ts`` older than the history (it is
    bounded) gives the whole history.
    """
    history = state.mid_history
    if not history:
        return 0
    if not (state.sample_interval_s > 0 and math.isfinite(ts) and state.now >= ts):
        return 1
    back = min((state.now - ts) / state.sample_interval_s, len(history))
    return min(len(history), int(back) + 1)


def mids_since(state: InstrumentState, ts: float) -> tuple[float, ...]:
    """Positive mids sampled at or after ``ts`` (see :func:`samples_since`), plus the current mid."""
    history = state.mid_history
    out = tuple(m for m in history[len(history) - samples_since(state, ts):] if m > 0)
    mid = current_mid(state)
    return out + ((mid,) if mid is not None else ())


def average_true_range(mids: tuple[float, ...], bar_samples: int, bars: int) -> float | None:
    """ATR (quote currency) from mids grouped into bars of ``bar_samples`` samples.

    A bar's true range is high − low over its samples and the previous bar's close (so bars share
    their boundary sample); the ATR is the mean over the last ``bars`` bars. ``None`` until
    ``bars × bar_samples + 1`` samples are in.
    """
    needed = bars * bar_samples + 1
    if len(mids) < needed:
        return None
    window = mids[-needed:]
    ranges = []
    for j in range(bars):
        chunk = window[j * bar_samples: (j + 1) * bar_samples + 1]
        ranges.append(max(chunk) - min(chunk))
    return math.fsum(r / bars for r in ranges)

