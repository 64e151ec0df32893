"""Greeks engine: option prices, Greeks, implied vol, inverse options, book views.

Pure vectorised functions over numpy arrays (scalars work too); no I/O, no
clock.  Units are stated in each module: vega per 1.00 of vol (and
``vega_per_point``), theta per year (and ``theta_per_day``), rho per 1.00
of rate.  See docs/greeks.md.
"""

from bot.core.greeks.black import Greeks, black76, black76_price, bsm, bsm_price, carry_greeks, carry_price
from bot.core.greeks.cache import BookGreeks
from bot.core.greeks.implied_vol import ImpliedVol, IVReason, implied_vol_black76, implied_vol_bsm
from bot.core.greeks.inverse import InverseOptionGreeks, inverse_future_delta, inverse_option, linear_future_delta
from bot.core.greeks.portfolio import (
    DeltaUnit,
    DollarGreeks,
    Scenario,
    dollar_greeks,
    expiry_buckets,
    portfolio_delta,
    scenario_grid,
    total,
    totals_by,
)
from bot.core.greeks.venue_conventions import (
    GreekDifference,
    VenueGreeks,
    compare_greeks,
    from_bybit_ticker,
    from_deribit_ticker,
    local_values,
)

__all__ = [
    "BookGreeks",
    "DeltaUnit",
    "DollarGreeks",
    "GreekDifference",
    "Greeks",
    "IVReason",
    "ImpliedVol",
    "InverseOptionGreeks",
    "Scenario",
    "VenueGreeks",
    "black76",
    "black76_price",
    "bsm",
    "bsm_price",
    "carry_greeks",
    "carry_price",
    "compare_greeks",
    "dollar_greeks",
    "expiry_buckets",
    "from_bybit_ticker",
    "from_deribit_ticker",
    "implied_vol_black76",
    "implied_vol_bsm",
    "inverse_future_delta",
    "inverse_option",
    "linear_future_delta",
    "local_values",
    "portfolio_delta",
    "scenario_grid",
    "total",
    "totals_by",
]
