"""ccxt's exception classes mapped to what the adapter does about them.

The order of the checks matters: ccxt's hierarchy nests rate limits under ``NetworkError``,
``InvalidNonce``/``ChecksumError`` under ``NetworkError`` and ``OrderNotFound`` under
``InvalidOrder``, so the most specific classes are tested first.
"""

from __future__ import annotations

import enum
import re

import ccxt


class Action(str, enum.Enum):
    RETRY = "retry"                  # transient: back off and try again (idempotent requests only)
    SLOW_DOWN = "slow_down"          # rate limited: pause every request for a cool-down, then retry
    BANNED = "banned"                # IP ban (HTTP 418) or equivalent: long pause, no order actions
    RESYNC_BOOK = "resync_book"      # book sequence broken: drop the cached book, resubscribe
    HALT = "halt"                    # credentials/permissions: halt the instrument, alert
    RECONCILE = "reconcile"          # outcome unknown / order unknown: ask the venue, never resend
    REJECTED = "rejected"            # the venue refused the order (post-only cross, bad size...);
                                     # a post-only cross is told apart by is_post_only_reject
    FAIL = "fail"                    # anything else: report, do not retry


def classify(exc: BaseException, *, placing: bool = False, stream: bool = False) -> Action:
    """What to do about ``exc``; ``placing`` marks a non-idempotent send (place/amend), ``stream``
    an error raised by a websocket watch (where ``InvalidNonce`` means a broken book sequence; from
    REST it means a clock skew, e.g. Binance -1021, and is retried)."""
    if isinstance(exc, (ccxt.ChecksumError, ccxt.InvalidNonce)):
        return Action.RESYNC_BOOK if stream else Action.RETRY
    if isinstance(exc, ccxt.DDoSProtection) and is_ban(exc):
        return Action.BANNED
    if isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)):
        return Action.SLOW_DOWN
    if isinstance(exc, (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended)):
        return Action.HALT
    if isinstance(exc, ccxt.OrderNotFound):
        return Action.RECONCILE
    if isinstance(exc, ccxt.OnMaintenance):
        return Action.RETRY  # the venue refused the request: nothing happened
    if isinstance(exc, (ccxt.RequestTimeout, ccxt.NetworkError, ccxt.ExchangeNotAvailable)):
        # A send that timed out or hit a 5xx may have gone through: reconcile instead of resending.
        return Action.RECONCILE if placing else Action.RETRY
    if isinstance(exc, (ccxt.InvalidOrder, ccxt.InsufficientFunds, ccxt.OperationRejected)):
        return Action.REJECTED
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is TimeoutError on 3.11
        return Action.RECONCILE if placing else Action.RETRY
    return Action.FAIL


_POST_ONLY_REJECT = re.compile(r'"code"\s*:\s*(-5022|11054)\b|post_only_reject')
"""Binance USDⓈ-M -5022 ("... the Post Only order will be rejected"); Deribit 11054
``post_only_reject``."""


def is_post_only_reject(exc: BaseException) -> bool:
    """A post-only order (or amend) the venue refused because it would have crossed: Binance
    USDⓈ-M -5022 (ccxt raises ``OrderNotFillable`` on /fapi URLs, ``InvalidOrder`` elsewhere) and
    Deribit 11054 ``post_only_reject`` (``InvalidOrder``). ccxt keeps the venue's answer only in
    the message (``"<exchange id> <body>"``), so the code is read from there."""
    return isinstance(exc, ccxt.InvalidOrder) and bool(_POST_ONLY_REJECT.search(str(exc)))


def is_ban(exc: BaseException) -> bool:
    """An HTTP 418 (Binance's IP ban after ignored 429s) or a message saying the IP is banned."""
    text = str(exc)
    return " 418 " in f" {text} " or "banned" in text.lower()


def retry_after_s(exc: BaseException, headers: dict | None) -> float | None:
    """``Retry-After`` (s) from the last response's headers, if any."""
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None
