"""Real exchanges through ccxt: :class:`~bot.venues.ccxt.venue.CcxtVenue` (live) and
:class:`~bot.venues.ccxt.paper.PaperVenue` (live market data, local matching).

Import them from their modules: this package itself stays light, so reading a config (which
needs only :mod:`bot.venues.ccxt.config`) does not load ccxt."""
