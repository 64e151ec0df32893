"""The Greeks engine's unit constants (no numpy: the venue adapters read them too)."""

DAYS_PER_YEAR = 365.0
"""Calendar days in the year that theta and charm are quoted over (``*_per_day`` = per year / this)."""
VOL_POINT = 0.01
"""One vol point as a fraction of 1.00 vol (``vega_per_point`` = vega × this)."""
