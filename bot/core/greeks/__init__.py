"""Greeks engine: option prices, Greeks, implied vol, inverse options, book views.

Pure vectorised functions over numpy arrays (scalars work too); no I/O, no
clock.  Units are stated in each module: vega per 1.00 of vol (and
``vega_per_point``), theta per year (and ``theta_per_day``), rho per 1.00
of rate.  See docs/greeks.md.

The names below are imported from their modules when first used (PEP 562), so
that a process trading no option (a perp-only config) never loads numpy and
scipy for them: ``venue_conventions`` and ``units`` need neither.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "black": ("Greeks", "black76", "black76_price", "bsm", "bsm_price", "carry_greeks", "carry_price"),
    "cache": ("BookGreeks",),
    "implied_vol": ("ImpliedVol", "IVReason", "implied_vol_black76", "implied_vol_bsm"),
    "inverse": ("InverseOptionGreeks", "inverse_future_delta", "inverse_option", "linear_future_delta"),
    "portfolio": ("DeltaUnit", "DollarGreeks", "Scenario", "dollar_greeks", "expiry_buckets", "portfolio_delta",
                  "scenario_grid", "total", "totals_by"),
    "venue_conventions": ("GreekDifference", "VenueGreeks", "compare_greeks", "from_bybit_ticker",
                          "from_deribit_ticker", "local_values"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # found here from now on
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))

