"""Sampled mids: the engine's append-only :class:`MidSeries` and the immutable :class:`MidHistory`
views policies read, with the EWMA variance of their log returns kept up to date incrementally.

Mids are prices (quote currency per unit of the instrument), floats. A log return is taken between
two mids only when both are positive and finite (any other mid is skipped, with the returns on
either side of it). The EWMA is the RiskMetrics recursion var ← λ·var + (1 − λ)·r², seeded with
the first r², over the returns between every ``step``-th mid, aligned so the latest mid is always
used. Returns whose weight has decayed below :data:`EWMA_NEGLIGIBLE` are not read: a batch
estimate reads at most :func:`ewma_horizon` returns, and an incremental one (a :class:`MidHistory`
remembers where the last estimate of its series stopped) folds in only the returns since, so an
estimate costs O(1) per new sample. Both agree to within that negligible weight.
"""

from __future__ import annotations

import functools
import math
from array import array
from typing import Iterator, Sequence, overload

EWMA_NEGLIGIBLE = 1e-12
"""Returns whose EWMA weight has decayed below this are not read (the estimate moves by less than
this fraction of the variance)."""


@functools.lru_cache(maxsize=64)
def ewma_horizon(lam: float) -> int:
    """The most returns whose EWMA weight (decay ``lam`` per return) is at least :data:`EWMA_NEGLIGIBLE`."""
    return math.ceil(math.log(EWMA_NEGLIGIBLE) / math.log(lam)) + 1


def log_return(a: float, b: float) -> float | None:
    """``log(b) − log(a)`` (finite for any such pair) when both mids are positive and finite, else ``None``."""
    if 0 < a < math.inf and 0 < b < math.inf:
        return math.log(b) - math.log(a)
    return None


def _fold(var: float | None, n: int, mids: Sequence[float], positions: range,
          lam: float) -> tuple[float | None, int]:
    """``(var, n)`` with the log returns between the mids at consecutive ``positions`` folded in."""
    prev = math.nan
    for i in positions:
        b = mids[i]
        r = log_return(prev, b)
        if r is not None:
            var = r * r if var is None else lam * var + (1 - lam) * r * r
            n += 1
        prev = b
    return var, n


def ewma_variance(mids: Sequence[float], lam: float, step: int = 1) -> tuple[float, int] | None:
    """The EWMA variance per return (decay ``lam``) of the log returns between every ``step``-th
    mid of ``mids`` (oldest first), ending at the latest, and how many returns it weighs (at most
    :func:`ewma_horizon`); ``None`` without a return. Incremental for a :class:`MidHistory`."""
    if isinstance(mids, MidHistory):
        return mids.ewma_variance(lam, step)
    return _batch(mids, lam, step)


def _batch(mids: Sequence[float], lam: float, step: int) -> tuple[float, int] | None:
    horizon = ewma_horizon(lam)
    last = len(mids) - 1
    var, n = _fold(None, 0, mids, range(max(last - horizon * step, last % step), last + 1, step), lam)
    return (var, n) if var is not None else None


class MidSeries:
    """The mids one engine samples, oldest first; :meth:`view` is what its policies read (the
    latest ``maxlen``). Append-only: a view taken earlier never changes."""

    __slots__ = ("_buf", "_offset", "_maxlen", "_ewma", "_view")

    def __init__(self, maxlen: int):
        self._buf = array("d")  # 8 bytes a sample
        self._offset = 0
        """Sample number of ``_buf[0]`` (samples are numbered from 0 in the order appended)."""
        self._maxlen = maxlen
        self._ewma: dict[tuple[float, int, int], tuple[int, float, int]] = {}
        """Per (λ, step, sample number mod step): the latest sample folded in, the variance and
        the number of returns behind it."""
        self._view: MidHistory | None = None

    def __len__(self) -> int:
        return min(len(self._buf), self._maxlen)

    def append(self, mid: float) -> None:
        self._buf.append(mid)
        self._view = None
        if len(self._buf) >= 2 * self._maxlen:  # a new buffer: views of the old one keep it
            self._offset += len(self._buf) - self._maxlen
            self._buf = self._buf[-self._maxlen:]

    def view(self) -> MidHistory:
        """The latest (at most ``maxlen``) mids, as an immutable sequence (made once per sample)."""
        if self._view is None:
            end = len(self._buf)
            self._view = MidHistory(self, self._buf, self._offset, max(0, end - self._maxlen), end)
        return self._view


class MidHistory(Sequence[float]):
    """An immutable view of the mids ``buf[start:end]`` of a :class:`MidSeries` (a tuple-like
    sequence of floats, oldest first)."""

    __slots__ = ("_series", "_buf", "_offset", "_start", "_end")

    def __init__(self, series: MidSeries, buf: array[float], offset: int, start: int, end: int):
        self._series, self._buf, self._offset, self._start, self._end = series, buf, offset, start, end

    def __len__(self) -> int:
        return self._end - self._start

    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[float, ...]: ...

    def __getitem__(self, index: int | slice) -> float | tuple[float, ...]:
        if isinstance(index, slice):
            return tuple(self._buf[self._start:self._end][index])
        n = self._end - self._start
        if not -n <= index < n:
            raise IndexError("mid history index out of range")
        return self._buf[self._start + index % n]

    def __iter__(self) -> Iterator[float]:
        return iter(self._buf[self._start:self._end])

    def __reversed__(self) -> Iterator[float]:
        return reversed(self._buf[self._start:self._end])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (MidHistory, tuple, list)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        latest = self._buf[self._end - 1] if self._end > self._start else None
        return f"MidHistory({len(self)} mids, latest {latest})"

    def ewma_variance(self, lam: float, step: int) -> tuple[float, int] | None:
        """As :func:`ewma_variance`: from where the series' last estimate with ``lam`` and ``step``
        stopped, when this view holds that point and reaches back over the whole horizon (or to
        the first sample); else a batch over this view's last :func:`ewma_horizon` returns."""
        if self._end == self._start:
            return None
        latest = self._offset + self._end - 1  # sample number of the latest mid
        key = (lam, step, latest % step)
        memo = self._series._ewma.get(key)  # noqa: SLF001  (the series keeps its views' running state)
        horizon = ewma_horizon(lam)
        first = self._offset + self._start  # sample number of the oldest mid in view
        whole = first == 0 or latest - first >= horizon * step  # the view reaches as far back as a batch would
        if whole and memo is not None and self._offset <= memo[0] <= latest and latest - memo[0] <= horizon * step:
            since, var, n = memo
            folded = _fold(var, n, self._buf, range(since - self._offset, latest - self._offset + 1, step), lam)
            result = (folded[0], min(folded[1], horizon)) if folded[0] is not None else None
        else:
            result = _batch(self, lam, step)
        if result is not None:
            self._series._ewma[key] = (latest, *result)  # noqa: SLF001
        return result
