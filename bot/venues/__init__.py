"""Venues: the exchanges the engine trades on, all behind :class:`bot.venues.base.Venue`."""
