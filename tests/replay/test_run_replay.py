"""``run_replay`` and ``report`` end to end on the recorded slice: the real engine and planner on
the replay venue, the files written, execution metrics, determinism."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bot.config import load_config
from bot.errors import ConfigError
from bot.replay import report, run_replay

from .support import SLICE, config
from .test_replay_venue import _tiny_recording

D = Decimal
REPO = Path(__file__).resolve().parents[2]


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_a_target_schedule_replayed_writes_every_action_fill_and_parent(tmp_path: Path) -> None:
    cfg = config([(2.0, "0.3"), (20.0, "-0.2"), (40.0, "0")])
    with capture_logs() as logs:
        summary = await run_replay(cfg, SLICE, tmp_path)
    orders, fills = lines(tmp_path / "orders.jsonl"), lines(tmp_path / "fills.jsonl")
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(json.dumps(summary, default=str))

    parents = summary["parents"]
    assert [(p["side"], D(p["quantity"])) for p in parents] == [("buy", D("0.3")), ("sell", D("0.5")), ("buy", D("0.2"))]
    assert [p["start_ts"] - summary["data"]["start_ts"] for p in parents] == pytest.approx([2, 20, 40], abs=0.1)
    # the position is the sum of the fills written, and the fills are real: maker fills at their
    # order's price on a print at or through it, fees at 2 bp
    position = sum(D(f["size"]) * (1 if f["side"] == "buy" else -1) for f in fills)
    assert D(summary["instruments"]["BTCUSDT"]["position"]) == position
    assert fills and all(f["liquidity"] == "maker" for f in fills)
    for f in fills:
        assert D(f["fee"]) == D(f["size"]) * D(f["price"]) * 2 / 10_000
        sign = 1 if f["side"] == "buy" else -1
        assert f["trade"]["aggressor"] != f["side"] and (D(f["trade"]["price"]) - D(f["price"])) * sign <= 0
    # every order action is written with its price, size and the queue ahead it joined
    requests = [o for o in orders if o["kind"] == "request"]
    assert requests and all(o["action"] in ("place", "amend", "cancel") for o in requests)
    assert all(o["queue_ahead"] is not None and D(o["queue_ahead"]) >= 0 for o in requests if o["action"] == "place")
    assert sum(p["order_actions"] for p in parents) == len(requests)
    assert {o["status"] for o in orders if o["kind"] == "venue"} >= {"open", "filled"}
    # the metrics agree with the fills
    first = parents[0]
    if first["completed"]:
        assert D(first["filled"]) == D("0.3") and first["maker_share"] == 1.0
        assert first["total_cost_bps"] == pytest.approx(first["shortfall_bps"] + first["fee_bps"])
    completed = [e for e in logs if e["event"] == "execution.completed"]
    assert [e["parent_id"] for e in completed] == [p["parent_id"] for p in parents]

    text = report(tmp_path)
    assert "BTCUSDT-1" in text and "parents 3" in text and "positive = cost" in text


async def test_the_same_config_on_the_same_data_replays_identically(tmp_path: Path) -> None:
    cfg = config([(1.0, "-0.4"), (15.0, "0.1")], order_entry_latency_ms=30, cancel_latency_ms=30)
    a = await run_replay(cfg, SLICE, tmp_path / "a")
    b = await run_replay(cfg, SLICE, tmp_path / "b")
    for name in ("orders.jsonl", "fills.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert a["parents"] == b["parents"] and a["run"]["decisions"] == b["run"]["decisions"]


async def test_past_the_deadline_the_executor_crosses_and_pays_taker_fees(tmp_path: Path) -> None:
    cfg = config([(2.0, "4")], execution={"max_order_size": "2", "urgency": {"deadline_s": 3}},
                 order_entry_latency_ms=20)
    summary = await run_replay(cfg, SLICE, tmp_path)
    [parent] = summary["parents"]
    fills = lines(tmp_path / "fills.jsonl")
    takers = [f for f in fills if f["liquidity"] == "taker"]
    assert takers and all(D(f["fee"]) == D(f["size"]) * D(f["price"]) * 5 / 10_000 for f in takers)
    assert all(f["ts"] >= parent["start_ts"] + 3 for f in takers)
    assert all(f["trade"]["aggressor"] == "buy" for f in takers)  # our own print against the book
    assert parent["completed"] and D(parent["filled"]) == 4
    assert parent["maker_share"] < 1
    assert parent["deadline_ts"] == pytest.approx(parent["start_ts"] + 3)
    assert parent["time_to_complete_s"] >= 3


async def test_the_example_config_loads_and_runs(tmp_path: Path) -> None:
    cfg = load_config(REPO / "config/examples/replay-binance-btcusdt.yaml")
    summary = await run_replay(cfg, SLICE, tmp_path)
    assert summary["instruments"]["BTCUSDT"]["policy"] == "volatility_target"
    assert summary["parents"] and summary["instruments"]["BTCUSDT"]["fills"] > 0
    assert summary["data"]["trades"] == 2502 and summary["data"]["out_of_order_rows"] == 0
    assert summary["run"]["wall_s"] < 30


async def test_a_config_without_a_replay_venue_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="replay"):
        await run_replay(load_config(REPO / "config/paper.yaml"), SLICE, tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "config/examples/replay-binance-btcusdt.yaml").read_text()
                   .replace("book_depth: 50", "book_depht: 50"))
    with pytest.raises(ConfigError, match="book_depht: unknown key"):
        load_config(bad)


async def test_real_time_speed(tmp_path: Path) -> None:
    _tiny_recording(tmp_path / "d")
    cfg = config([(0.0, "0.01")])
    start = time.monotonic()
    summary = await run_replay(cfg, tmp_path / "d", tmp_path / "out", realtime=True)
    assert time.monotonic() - start >= 0.28 and summary["run"]["realtime"] is True


def test_replay_and_report_commands(tmp_path: Path) -> None:
    from tests.integration.support import cli

    out = tmp_path / "out"
    result = cli("replay", "--config", str(REPO / "config/examples/replay-binance-btcusdt.yaml"),
                 "--data", str(REPO / "tests/data/binance-futures-btcusdt-2024-08-08-slice"), "--out", str(out),
                 "--log-format", "json", timeout=120)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} >= {"orders.jsonl", "fills.jsonl", "summary.json"}
    assert "parent orders" in result.stdout
    again = cli("report", str(out))
    assert again.returncode == 0 and "cost bps" in again.stdout
    missing = cli("report", str(tmp_path))
    assert missing.returncode == 2 and "no summary.json" in missing.stderr
