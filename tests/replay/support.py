"""Helpers for the replay tests: the recorded slice, configs, a venue on the slice."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.core.fill_model import QueueModel
from bot.venues.replay.config import ReplayMarketConfig
from bot.venues.replay.venue import ReplayVenue

SLICE = Path(__file__).resolve().parents[1] / "data" / "binance-futures-btcusdt-2024-08-08-slice"
"""The first 60 s of the shared Binance BTCUSDT recording (tests/data/SOURCES.md)."""
SYMBOL = "BTCUSDT"
BOOK_FILE = SLICE / "binance-futures_incremental_book_L2_BTCUSDT.csv.gz"
TRADES_FILE = SLICE / "binance-futures_trades_BTCUSDT.csv.gz"
QUOTES_FILE = SLICE / "binance-futures_quotes_BTCUSDT.csv.gz"

MARKET = {"tick_size": "0.10", "lot_size": "0.001", "min_notional": "100", "base": "BTC", "quote": "USDT",
          "maker_fee_bps": "2", "taker_fee_bps": "5"}
SPEC = ReplayMarketConfig.model_validate(MARKET).spec(SYMBOL)


def venue(**kw: Any) -> ReplayVenue:
    kw.setdefault("queue_model", QueueModel("conservative"))
    kw.setdefault("entry_latency_s", 0.0)
    kw.setdefault("cancel_latency_s", 0.0)
    return ReplayVenue({SYMBOL: SPEC}, SLICE, **kw)


def config(steps: list[tuple[float, str]] | None = None, *, policy: dict[str, Any] | None = None,
           execution: dict[str, Any] | None = None, **venue_fields: Any) -> Config:
    """A validated replay config for BTCUSDT; by default a target schedule."""
    policy = policy or {"type": "target_schedule",
                        "steps": [{"after_s": t, "target": q} for t, q in (steps or [(2.0, "0.3")])]}
    return Config.model_validate({
        "mode": "paper",
        "venue": {"type": "replay", "markets": {SYMBOL: MARKET}, **venue_fields},
        "instruments": [{
            "symbol": SYMBOL, "sample_interval_ms": 1000, "policy": policy,
            "execution": {"max_order_size": "0.5", "min_order_lifetime_ms": 500, **(execution or {})},
            "risk": {"max_position": "5", "max_order_size": "2", "price_band_bps": 50},
        }],
    })


D = Decimal
