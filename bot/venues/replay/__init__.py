"""Recorded market data (Tardis.dev CSV) replayed behind the venue interface: ``tardis`` (parsing),
``book`` (the L2 book builder), ``venue`` (:class:`~bot.venues.replay.venue.ReplayVenue`) and
``config`` (:class:`~bot.venues.replay.config.ReplayVenueConfig`). See docs/execution.md."""
