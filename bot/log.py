"""Structured logging: JSON lines for machines, a readable console rendering for people.

Events have stable dotted names (``order.placed``, ``kill_switch.engaged``, …) and carry the
numbers that explain them. Values of secret-looking keys and any registered secret string are
replaced by ``***`` before rendering, so no secret reaches a log line.
"""

from __future__ import annotations

import json
import logging
import sys
from decimal import Decimal
from typing import Any, Iterable

import structlog

_SECRET_KEYS = frozenset({"api_key", "secret", "password", "token", "apikey"})
_secrets: set[str] = set()


def register_secrets(values: Iterable[str]) -> None:
    """Strings that must never appear in a log line (resolved credentials, passwords)."""
    _secrets.update(v for v in values if v)


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key in _SECRET_KEYS:
            event[key] = "***"
        elif isinstance(value, str) and _secrets:
            for secret in _secrets:
                value = value.replace(secret, "***")
            event[key] = value
    return event


def _decimals_as_text(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Exact decimals render as plain numbers-in-strings (``"0.846"``), never as floats."""
    for key, value in event.items():
        if isinstance(value, Decimal):
            event[key] = str(value)
    return event


def configure(fmt: str = "auto", level: str = "info", stream: Any = None, extra: Iterable[Any] = ()) -> None:
    """Set up structlog for the process; ``fmt`` is ``auto``, ``json`` or ``console``;
    ``extra`` processors (e.g. metrics) see every event before it is rendered."""
    stream = stream or sys.stdout
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty(), sort_keys=False)
        if console
        else structlog.processors.JSONRenderer(serializer=lambda obj, **kw: json.dumps(obj, default=repr))
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *extra,
            _decimals_as_text,
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )


def get_logger(**context: Any) -> Any:
    return structlog.get_logger(**context)
