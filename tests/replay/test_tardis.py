"""Tardis CSV parsing: exact values, the three layouts, plain and gzip, merging by local time."""

from __future__ import annotations

import gzip
import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.types import Side
from bot.venues.replay.tardis import (
    BookChange, OrderStats, Quote, TardisFormatError, TradePrint, find_files, in_time_order, merge, parse_rows,
    read_rows,
)

from .support import BOOK_FILE, QUOTES_FILE, SLICE, SYMBOL, TRADES_FILE

D = Decimal
BOOK_HEADER = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"
TRADE_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
QUOTE_HEADER = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount"


def rows(text: str) -> list[list[str]]:
    return [line.split(",") for line in text.strip().splitlines()]


def test_book_rows_parse_exactly() -> None:
    [snap, delete] = parse_rows("incremental_book_L2", rows(f"""{BOOK_HEADER}
binance-futures,BTCUSDT,1723161256493000,1723161255319702,true,bid,61800.20,2.909
binance-futures,BTCUSDT,1723161256505000,1723161255319702,false,ask,60819.50,0.000"""))
    assert snap == BookChange("BTCUSDT", 1723161255319702, 1723161256493000, True, Side.BUY, D("61800.20"), D("2.909"))
    assert (delete.is_snapshot, delete.side, delete.amount) == (False, Side.SELL, D(0))


def test_trade_rows_carry_the_aggressor_and_local_time_and_skip_unknown_sides() -> None:
    records = list(parse_rows("trades", rows(f"""{TRADE_HEADER}
binance-futures,BTCUSDT,1723161256322000,1723161255088176,5266583935,buy,61800.30,0.006
binance-futures,BTCUSDT,1723161256322001,1723161255088177,5266583936,unknown,61800.30,0.010
binance-futures,BTCUSDT,1723161256344000,1723161255088230,5266583937,sell,61800.20,0.199""")))
    assert [r.trade.trade_id for r in records] == ["5266583935", "5266583937"]
    first = records[0]
    assert isinstance(first, TradePrint) and first.local_us == 1723161255088176
    assert (first.trade.price, first.trade.size, first.trade.aggressor) == (D("61800.30"), D("0.006"), Side.BUY)
    assert first.trade.ts == pytest.approx(1723161255.088176)


def test_quote_rows_allow_an_empty_side_and_columns_in_any_order() -> None:
    header = "symbol,exchange,local_timestamp,timestamp,bid_price,bid_amount,ask_price,ask_amount"
    [q] = parse_rows("quotes", rows(f"""{header}
BTCUSDT,binance-futures,2,1,61800.20,2.507,,"""))
    assert q == Quote("BTCUSDT", 2, 1, D("61800.20"), D("2.507"), None, None)


def test_symbols_are_filtered_and_bad_rows_are_reported_with_their_line() -> None:
    text = f"""{TRADE_HEADER}
binance-futures,ETHUSDT,1,1,9,buy,3000,1
binance-futures,BTCUSDT,1,1,10,buy,x,1"""
    with pytest.raises(TardisFormatError, match=r"f:3: cannot parse"):
        list(parse_rows("trades", rows(text), {"BTCUSDT"}, what="f"))
    assert list(parse_rows("trades", rows(text), {"SOLUSDT"})) == []
    with pytest.raises(TardisFormatError, match="missing column"):
        list(parse_rows("incremental_book_L2", rows(TRADE_HEADER + "\nx,y,1,1,1,buy,1,1")))
    with pytest.raises(TardisFormatError, match="bid or ask"):
        list(parse_rows("incremental_book_L2", rows(BOOK_HEADER + "\nx,BTCUSDT,1,1,true,buy,1,1")))


def test_plain_and_gzip_files_read_the_same(tmp_path: Path) -> None:
    with gzip.open(TRADES_FILE, "rt") as f:
        head = "".join(itertools.islice(f, 50))
    plain = tmp_path / "x_trades_BTCUSDT.csv"
    plain.write_text(head)
    zipped = tmp_path / "x_trades_BTCUSDT.csv.gz"
    with gzip.open(zipped, "wt") as g:
        g.write(head)
    a, b = list(read_rows("trades", plain)), list(read_rows("trades", zipped))
    assert len(a) == 49 and a == b
    assert find_files(tmp_path, "trades") == [plain, zipped]
    assert find_files(tmp_path, "quotes") == []


def test_the_recorded_slice_starts_with_its_snapshot_and_is_in_local_time_order() -> None:
    book = list(read_rows("incremental_book_L2", BOOK_FILE, {SYMBOL}))
    assert len(book) == 79_583
    assert all(r.is_snapshot for r in book[:2000]) and not book[2000].is_snapshot
    assert all(a.local_us <= b.local_us for a, b in zip(book, book[1:]))
    assert len(list(read_rows("trades", TRADES_FILE))) == 2502
    assert len(list(read_rows("quotes", QUOTES_FILE))) == 12_093


def test_merge_orders_by_local_time_with_trades_before_book_changes_at_a_tie() -> None:
    streams = [read_rows(t, SLICE / f"binance-futures_{t}_BTCUSDT.csv.gz") for t in
               ("incremental_book_L2", "trades", "quotes")]
    merged = list(merge(streams))
    assert len(merged) == 79_583 + 2502 + 12_093
    assert all(a.local_us <= b.local_us for a, b in zip(merged, merged[1:]))
    rank = {TradePrint: 0, BookChange: 1, Quote: 2}
    ties = [(a, b) for a, b in zip(merged, merged[1:]) if a.local_us == b.local_us and type(a) is not type(b)]
    assert ties and all(rank[type(a)] < rank[type(b)] for a, b in ties)


def test_a_row_back_in_time_is_replayed_at_the_time_before_it() -> None:
    text = f"""{TRADE_HEADER}
e,BTCUSDT,1,100,1,buy,1,1
e,BTCUSDT,1,90,2,buy,1,1
e,BTCUSDT,1,110,3,buy,1,1"""
    stats = OrderStats()
    out = list(in_time_order(parse_rows("trades", rows(text)), stats))
    assert [r.local_us for r in out] == [100, 100, 110] and stats.out_of_order == 1
    assert out[1].trade.trade_id == "2" and out[1].trade.ts == pytest.approx(100e-6)
