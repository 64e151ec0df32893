"""Real exchanges through ccxt: :class:`~bot.venues.ccxt.venue.CcxtVenue` (live) and
:class:`~bot.venues.ccxt.paper.PaperVenue` (live market data, local matching)."""

from bot.venues.ccxt.config import CcxtVenueConfig
from bot.venues.ccxt.venue import CcxtVenue

__all__ = ["CcxtVenue", "CcxtVenueConfig"]
