"""One ccxt.pro stream kept alive: the watch loop shared by the venue adapter and the recorder."""

from __future__ import annotations

import asyncio
import random
from typing import Any, Awaitable, Callable

import ccxt

from bot.venues.ccxt.config import BackoffConfig
from bot.venues.ccxt.errors import Action, classify


def backoff_s(b: BackoffConfig, attempt: int, rng: random.Random) -> float:
    """Jittered exponential delay (s) before reconnect attempt ``attempt`` (0 first)."""
    delay = min(b.max_ms, b.initial_ms * 2 ** min(attempt, 20)) / 1000
    return delay * (1 - b.jitter * rng.random())


async def watch_forever(
    watch: Callable[[], Awaitable[Any]],
    handle: Callable[[Any], None],
    on_error: Callable[[Action, BaseException], Awaitable[None]],
    delay: Callable[[int], float],
    log: Any,
    *,
    events: tuple[str, str],
    stream: str,
    instrument: str,
    on_resumed: Callable[[], None] | None = None,
) -> None:
    """Await ``watch()`` forever, passing each result to ``handle``. A failed watch is classified,
    logged as ``events[0]``, given to ``on_error`` and retried after ``delay(attempt)``; a result
    that ``handle`` cannot take is logged as ``events[1]`` and skipped; ``on_resumed`` is called on
    the first result after a failure. Only a cancellation of this task itself ends the loop (ccxt
    cancels its own futures when a client is reset: that counts as a network error)."""
    attempt = 0
    failed = False
    while True:
        try:
            result = await watch()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            error: BaseException = ccxt.NetworkError("websocket client was reset")
        except Exception as exc:  # noqa: BLE001 - every stream error is handled the same way
            error = exc
        else:
            attempt = 0
            if failed and on_resumed is not None:
                on_resumed()
            failed = False
            try:
                handle(result)
            except Exception as exc:  # noqa: BLE001 - a bad message must not end the stream
                log.error(events[1], stream=stream, instrument=instrument, error=repr(exc))
            continue
        failed = True
        action = classify(error, stream=True)
        log.warning(events[0], stream=stream, instrument=instrument, action=action.value,
                    error=f"{type(error).__name__}: {str(error)[:200]}")
        await on_error(action, error)
        await asyncio.sleep(delay(attempt))
        attempt += 1
