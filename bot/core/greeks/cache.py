"""A book's Greeks kept current by revaluing only the rows whose inputs changed.

:class:`BookGreeks` holds, per instrument key, the model inputs last used
and the per-unit Greeks they gave.  :meth:`BookGreeks.update` takes the
current inputs of any subset of instruments, revalues (in one vectorised
call) only those whose inputs differ from the stored ones, and returns the
keys it revalued.  No clock is read: time to expiry is an input like any
other, so the caller decides how often time moves (e.g. recompute ``t``
once a second, or only when spot or vol moved).  No I/O, no globals.
"""

from __future__ import annotations

from typing import Hashable, Iterable, Sequence

import numpy as np

from bot.core.greeks.black import Greeks, carry_greeks

_INPUTS = ("underlying", "strike", "t", "vol", "rate", "carry", "is_call")


class BookGreeks:
    """Per-unit Greeks of a set of instruments under the cost-of-carry model.

    Inputs per instrument as :func:`bot.core.greeks.black.carry_greeks`
    (``carry`` 0 for Black-76 on a forward, ``rate - q`` for BSM on spot);
    ``carry_follows_rate`` chooses the rho convention for the whole book.
    """

    def __init__(self, carry_follows_rate: bool = False) -> None:
        self._carry_follows_rate = carry_follows_rate
        self._index: dict[Hashable, int] = {}
        self._inputs = np.empty((0, len(_INPUTS)))
        self._greeks = np.empty((0, len(Greeks._fields)))

    def __len__(self) -> int:
        return len(self._index)

    @property
    def keys(self) -> list[Hashable]:
        """Instrument keys in row order."""
        return list(self._index)

    def update(
        self,
        keys: Sequence[Hashable],
        underlying,
        strike,
        t,
        vol,
        rate=0.0,
        carry=0.0,
        is_call=True,
    ) -> list[Hashable]:
        """Store the current inputs of ``keys`` and revalue the changed rows.

        Array inputs align with ``keys`` (scalars broadcast).  New keys are
        added.  Returns the keys that were revalued (new or changed inputs;
        a NaN input counts as changed every time).
        """
        n = len(keys)
        values = (underlying, strike, t, vol, rate, carry, is_call)
        fresh = np.column_stack([np.broadcast_to(np.asarray(v, dtype=float), (n,)) for v in values])
        new_keys = [k for k in keys if k not in self._index]
        if new_keys:
            start = len(self._index)
            self._index.update({k: start + i for i, k in enumerate(new_keys)})
            self._inputs = np.vstack([self._inputs, np.full((len(new_keys), len(_INPUTS)), np.nan)])
            self._greeks = np.vstack([self._greeks, np.full((len(new_keys), len(Greeks._fields)), np.nan)])
        rows = np.fromiter((self._index[k] for k in keys), dtype=np.intp, count=n)
        changed = np.any(self._inputs[rows] != fresh, axis=1)
        if not changed.any():
            return []
        rows, fresh = rows[changed], fresh[changed]
        self._inputs[rows] = fresh
        g = carry_greeks(*fresh.T[:6], fresh[:, 6] != 0.0, self._carry_follows_rate)
        self._greeks[rows] = np.column_stack(g)
        return [k for k, c in zip(keys, changed, strict=True) if c]

    def remove(self, keys: Iterable[Hashable]) -> None:
        """Forget instruments (expired, closed)."""
        drop = {self._index[k] for k in keys if k in self._index}
        if not drop:
            return
        keep = np.array([i not in drop for i in range(len(self._index))])
        self._inputs = self._inputs[keep]
        self._greeks = self._greeks[keep]
        remaining = [k for k in self._index if self._index[k] not in drop]
        self._index = {k: i for i, k in enumerate(remaining)}

    def greeks(self, keys: Sequence[Hashable] | None = None) -> Greeks:
        """Stored per-unit Greeks (units of :mod:`bot.core.greeks.black`) of ``keys``
        (all instruments, in row order, when None); copies, safe to keep."""
        rows = slice(None) if keys is None else [self._index[k] for k in keys]
        block = self._greeks[rows]
        return Greeks(*(block[:, i].copy() for i in range(block.shape[1])))
