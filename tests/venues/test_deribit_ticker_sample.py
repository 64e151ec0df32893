"""One real Deribit ``ticker.BTC-PERPETUAL.100ms`` notification (tests/data/, see SOURCES.md), sent
by the local server as it came, parsed by ccxt's own Deribit client and normalised by the adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.core.types import FactorsUpdate
from tests.venues.conftest import next_event
from tests.venues.test_deribit import PERP, connected

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "deribit_ws_ticker_BTC-PERPETUAL.json"


async def test_real_ticker_message_becomes_market_factors(deribit_server, deribit_venue):
    message = json.loads(SAMPLE.read_text())
    channel, data = message["params"]["channel"], message["params"]["data"]
    assert channel == f"ticker.{PERP}.100ms"
    venue = await connected(deribit_venue, deribit_server)
    assert any(channel in chans for chans in deribit_server.subscriptions.values())   # what ccxt subscribed to

    await deribit_server._publish(channel, data)            # the real params.data, unmodified
    update = await next_event(venue, FactorsUpdate,
                              lambda e: e.symbol == PERP and e.factors.mark_price == pytest.approx(92281.78))
    f = update.factors
    assert f.mark_price == 92281.78 and f.index_price == 92263.55
    # funding_8h (the 8-hour rate; current_funding is the instantaneous one, 0.0 here), per 8 h interval
    assert f.funding_rate == 0.00001742 and f.funding_interval_h == 8.0
    # MarketFactors.open_interest is in contracts: Deribit reports the inverse perpetual's in USD,
    # 10 USD a contract
    assert f.open_interest == pytest.approx(1132329370.0 / 10) == 113232937.0
    assert f.basis is None and f.open_interest_change is None and f.liquidations_usd is None
    assert venue.factors[PERP] == f
