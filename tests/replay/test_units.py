"""Recorded amounts become contracts: Deribit's USD amounts (the real Tardis sample) divided by the
10 USD contract size, in book levels, trades and quotes alike; Binance's coin amounts (contract
size 1) unchanged; a unit or contract size that does not fit the recording refused."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pydantic
import pytest

from bot.config import load_config
from bot.core.types import Side, Trade
from bot.errors import ConfigError
from bot.venues.replay.config import ReplayMarketConfig, ReplayVenueConfig
from bot.venues.replay.tardis import Quote, TradePrint, read_rows
from bot.venues.replay.units import AmountScale, in_contracts
from bot.venues.replay.venue import ReplayVenue

from .support import SYMBOL, TRADES_FILE, venue

D = Decimal
DATA = Path(__file__).resolve().parents[1] / "data"
EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
DERIBIT_SAMPLE = DATA / "deribit_incremental_book_L2_BTC-PERPETUAL.csv"
PERP = "BTC-PERPETUAL"
DERIBIT = {"tick_size": "0.5", "lot_size": "1", "contract_size": "10", "inverse": True, "base": "BTC",
           "quote": "USD", "maker_fee_bps": "-1", "taker_fee_bps": "5"}
SAMPLE_ASKS_USD = [18640, 1190, 1080, 1400, 6630, 37070, 120, 51280, 61770, 3500, 16340, 22510, 45550, 10460, 39950]
SNAPSHOT_US = 1585699200355684


def deribit_scale(**market) -> AmountScale:
    return AmountScale.for_spec(ReplayMarketConfig.model_validate(DERIBIT | market).spec(PERP),
                                market.get("amount_unit"))


def test_the_deribit_sample_in_usd_becomes_contracts_of_10_usd() -> None:
    rows = list(read_rows("incremental_book_L2", DERIBIT_SAMPLE))
    assert [r.amount for r in rows] == SAMPLE_ASKS_USD                 # as recorded: USD
    scale = deribit_scale()                                           # default for inverse: quote (USD)
    assert (scale.unit, scale.per_contract) == ("quote", 10)
    converted = list(in_contracts(iter(rows), scale))
    assert [r.amount for r in converted] == [D(a) / 10 for a in SAMPLE_ASKS_USD]
    assert converted[0].amount == 1864 and [r.price for r in converted] == [r.price for r in rows]


def test_trades_and_quotes_are_converted_like_book_levels() -> None:
    trade = TradePrint(1, 1, Trade(PERP, "7", D("6421.5"), D("1230"), Side.BUY, 1e-6))
    quote = Quote(PERP, 1, 1, D("6421"), D("250"), D("6421.5"), None)
    [t, q] = list(in_contracts(iter([trade, quote]), deribit_scale()))
    assert (t.trade.size, t.trade.price, t.trade.trade_id, t.local_us) == (123, D("6421.5"), "7", 1)
    assert (q.bid_amount, q.ask_amount, q.ask_price) == (25, None, D("6421.5"))


def test_amounts_already_in_contracts_are_taken_as_they_are() -> None:
    scale = deribit_scale(amount_unit="contracts")
    rows = read_rows("incremental_book_L2", DERIBIT_SAMPLE)
    assert scale.per_contract == 1 and in_contracts(rows, scale) is rows


def test_a_contract_size_that_does_not_fit_the_recording_is_refused_not_floored() -> None:
    scale = deribit_scale(contract_size="100")                        # 18640 USD would be 186.4 contracts
    with pytest.raises(ConfigError, match=r"18640 \(quote\) .* 186\.4 contracts at 100 .*lot 1.*contract_size"):
        list(in_contracts(read_rows("incremental_book_L2", DERIBIT_SAMPLE), scale))


@pytest.mark.parametrize("inverse, unit", [(True, "base"), (False, "quote")])
def test_a_unit_that_needs_a_price_to_convert_is_a_config_error(inverse: bool, unit: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="does not fit"):
        ReplayMarketConfig.model_validate(DERIBIT | {"inverse": inverse, "amount_unit": unit})


@pytest.fixture
def deribit_dir(tmp_path: Path) -> Path:
    """The real sample (asks) plus bids and a trade written here in the same layout and unit."""
    shutil.copy(DERIBIT_SAMPLE, tmp_path / DERIBIT_SAMPLE.name)
    header = "exchange,symbol,timestamp,local_timestamp"
    (tmp_path / f"deribit_incremental_book_L2_bids_{PERP}.csv").write_text(
        f"{header},is_snapshot,side,price,amount\n"
        f"deribit,{PERP},1585699200245000,{SNAPSHOT_US},true,bid,6421,25000\n"
        f"deribit,{PERP},1585699200245000,{SNAPSHOT_US},true,bid,6420.5,3000\n")
    (tmp_path / f"deribit_trades_{PERP}.csv").write_text(
        f"{header},id,side,price,amount\nderibit,{PERP},1585699200300000,{SNAPSHOT_US + 1000},t1,sell,6421,1230\n")
    return tmp_path


async def test_the_replay_venue_streams_deribit_books_and_trades_in_contracts(deribit_dir: Path) -> None:
    for unit, per_contract in ((None, 10), ("contracts", 1)):
        config = ReplayVenueConfig.model_validate({"type": "replay", "markets": {PERP: DERIBIT | {"amount_unit": unit}}})
        v = ReplayVenue.from_config(config, deribit_dir)
        await v.connect([PERP])
        book = await v.fetch_book(PERP, 20)
        assert [(l.price, l.size) for l in book.asks[:2]] == [(D("6421.5"), D(18640) / per_contract),
                                                              (D("6422"), D(1190) / per_contract)]
        assert [(l.price, l.size) for l in book.bids] == [(D("6421"), D(25000) / per_contract),
                                                          (D("6420.5"), D(3000) / per_contract)]
        [trade] = [e for e in v.step() or [] if isinstance(e, Trade)]
        assert (trade.price, trade.size) == (D("6421"), D(1230) / per_contract)
    wrong = ReplayVenueConfig.model_validate({"type": "replay", "markets": {PERP: DERIBIT | {"contract_size": "100"}}})
    with pytest.raises(ConfigError, match="not a multiple of the lot"):
        await ReplayVenue.from_config(wrong, deribit_dir).connect([PERP])


def test_binance_coin_amounts_are_unchanged() -> None:
    """Linear, 1 BTC a contract: the default unit (base) is one contract, nothing to convert (the
    other replay tests check the slice's sizes as recorded)."""
    scale = venue().scales[SYMBOL]
    assert (scale.unit, scale.per_contract, scale.lot_size) == ("base", 1, D("0.001"))
    rows = read_rows("trades", TRADES_FILE)
    assert in_contracts(rows, scale) is rows


async def test_the_deribit_replay_example_reads_usd_amounts_as_contracts(deribit_dir: Path) -> None:
    config = load_config(EXAMPLES / "replay-deribit-btc-perpetual.yaml")
    v = ReplayVenue.from_config(config.venue, deribit_dir)
    await v.connect([PERP])
    assert (await v.fetch_book(PERP, 1)).asks[0].size == 1864
