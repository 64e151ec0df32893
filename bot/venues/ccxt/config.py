"""Configuration of the ccxt venue adapter (``venue.type: ccxt``).

Units are in the field descriptions. Credentials are not here: they live in the top-level
``credentials`` block (``${ENV_VAR}`` references, :class:`~pydantic.SecretStr`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class UrlOverrides(_Model):
    """Move ccxt's endpoints to other origins (tests point them at a local server on 127.0.0.1).

    Every URL in ccxt's ``urls['api']`` keeps its path and gets the ``rest`` origin (http/https
    URLs) or the ``ws`` origin (ws/wss URLs): ``https://fapi.binance.com/fapi/v1`` becomes
    ``http://127.0.0.1:PORT/fapi/v1`` and ``wss://www.deribit.com/ws/api/v2`` becomes
    ``ws://127.0.0.1:PORT/ws/api/v2``."""

    rest: str = Field(min_length=1, pattern=r"^https?://[^/]+$", description="origin, e.g. http://127.0.0.1:8080")
    ws: str = Field(min_length=1, pattern=r"^wss?://[^/]+$", description="origin, e.g. ws://127.0.0.1:8080")


class BackoffConfig(_Model):
    """Jittered exponential backoff: ``min(max_ms, initial_ms * 2**attempt) * U(1 - jitter, 1)``."""

    initial_ms: int = Field(default=250, gt=0, description="first delay, ms")
    max_ms: int = Field(default=30_000, gt=0, description="ceiling, ms")
    jitter: float = Field(default=0.5, ge=0, le=1, description="fraction of the delay drawn at random")

    @model_validator(mode="after")
    def _ordered(self) -> BackoffConfig:
        if self.max_ms < self.initial_ms:
            raise ValueError(f"max_ms ({self.max_ms}) must be at least initial_ms ({self.initial_ms})")
        return self


class CcxtVenueConfig(_Model):
    """A real exchange through ccxt (REST) and ccxt.pro (websocket streams)."""

    type: Literal["ccxt"] = "ccxt"
    exchange: Literal["deribit", "binanceusdm"]
    testnet: bool = Field(default=False, description="the venue's test network via ccxt set_sandbox_mode")
    urls: UrlOverrides | None = Field(default=None, description="endpoint override (tests); None = ccxt's")
    greeks_symbols: list[str] = Field(default_factory=list,
                                      description="extra instruments (e.g. Deribit options) whose tickers are "
                                                  "streamed for Greeks and marks, never traded")
    book_depth: int = Field(default=10, ge=1, le=100, description="levels per side streamed to the engine")
    stale_after_ms: int = Field(default=5000, gt=0,
                                description="a stream silent this long is stale: new orders blocked until it recovers")
    reconnect: BackoffConfig = BackoffConfig()
    request_timeout_ms: int = Field(default=10_000, gt=0, description="ccxt REST timeout per request, ms")
    max_retries: int = Field(default=3, ge=0, description="retries of an idempotent request on a transient error")
    order_actions_per_s: float = Field(default=5.0, gt=0,
                                       description="per-account budget for place/amend/cancel, actions per second")
    rate_limit_cooldown_ms: int = Field(default=5_000, gt=0,
                                        description="pause of every request after a 429 (Retry-After wins if longer)")
    ban_cooldown_ms: int = Field(default=120_000, gt=0,
                                 description="pause after a 418/IP ban when the venue gives no Retry-After, ms")
    position_poll_ms: int = Field(default=2_000, gt=0,
                                  description="REST polling of positions where the venue has no position stream")
    place_reconcile_ms: int = Field(default=1_500, ge=0,
                                    description="after a timeout on place: how long to look for the order by its id")
    markets_cache: Path | None = Field(default=None,
                                       description="file caching load_markets; None = ~/.cache/scalebot/<exchange>.json")
    markets_cache_max_age_s: int = Field(default=86_400, gt=0,
                                         description="a cache older than this is refreshed before use, s")
    verbose: bool = Field(default=False, description="ccxt's verbose request logging (debugging only)")
