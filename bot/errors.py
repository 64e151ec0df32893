"""Exit codes and the errors a person can act on (shown as one line, never a traceback)."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    INTERNAL = 1
    CONFIG = 2
    REDIS_UNAVAILABLE = 3
    VENUE = 4
    UNHEALTHY = 5


class ScalebotError(Exception):
    """An expected failure: its message says what is wrong and what to do about it."""

    exit_code: ExitCode = ExitCode.INTERNAL


class ConfigError(ScalebotError):
    """The configuration or the command line is wrong. One problem per line in the message."""

    exit_code = ExitCode.CONFIG


class VenueUnavailable(ScalebotError):
    exit_code = ExitCode.VENUE
