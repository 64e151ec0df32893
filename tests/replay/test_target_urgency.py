"""Each target change carries its own urgency: a schedule step or a policy may set a deadline
that overrides the instrument's ``execution.urgency`` for that change only."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.core.planner import Urgency
from bot.core.policies import TargetDecision, compute_target
from bot.core.policies.base import UrgencyParams
from bot.core.policies.target_schedule import Params as Schedule
from bot.replay import run_replay
from bot.state.memory import MemoryStore
from bot.state.store import RedisStore

from tests.policies.support import make_state

from .support import SLICE, config

D = Decimal


def fills(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "fills.jsonl").read_text().splitlines()]


async def test_a_step_with_a_deadline_crosses_at_it_and_the_next_step_without_one_does_not(tmp_path: Path) -> None:
    policy = {"type": "target_schedule", "steps": [
        {"after_s": 2.0, "target": "4", "urgency": {"deadline_s": 3}},
        {"after_s": 30.0, "target": "0"},  # no urgency of its own; the instrument has none either
    ]}
    summary = await run_replay(config(policy=policy, execution={"max_order_size": "2"}), SLICE, tmp_path)
    first, second = summary["parents"]
    assert first["deadline_ts"] == pytest.approx(first["start_ts"] + 3)
    assert second["deadline_ts"] is None
    takers = [f for f in fills(tmp_path) if f["liquidity"] == "taker"]
    assert takers, "the first step's deadline must make the executor cross"
    assert all(first["start_ts"] + 3 <= f["ts"] < second["start_ts"] for f in takers)


async def test_the_policy_urgency_applies_unless_the_step_has_its_own() -> None:
    params = Schedule.model_validate({
        "type": "target_schedule", "urgency": {"deadline_s": 60, "escalate_after_s": 10},
        "steps": [{"after_s": 0, "target": "1"}, {"after_s": 5, "target": "2", "urgency": {"deadline_s": 2}}]})
    early = compute_target(params, make_state(now=1.0))
    late = compute_target(params, make_state(now=6.0))
    assert early is not None and early.urgency == Urgency(escalate_after_s=10, deadline_s=60)
    assert late is not None and late.urgency == Urgency(deadline_s=2)


@pytest.mark.parametrize("store_kind", ["memory", "redis"])
async def test_a_saved_target_keeps_its_time_and_urgency_across_a_restart(store_kind: str, redis_url: str,
                                                                         prefix: str) -> None:
    store = MemoryStore() if store_kind == "memory" else RedisStore(redis_url, prefix)
    urgency = Urgency(escalate_after_s=1.5, deadline_s=9.0, hard_band=D("0.7"), cross_band_bps=D("12.5"))
    try:
        await store.save_target("BTCUSDT", TargetDecision(D("1.25"), "why", urgency=urgency), "target_schedule", 1234.5)
        saved = await store.load_target("BTCUSDT")
        assert saved is not None and (saved.target, saved.ts, saved.urgency) == (D("1.25"), 1234.5, urgency)
        await store.save_target("BTCUSDT", TargetDecision(D("-2"), "no urgency"), "target_schedule", 1240.0)
        saved = await store.load_target("BTCUSDT")
        assert saved is not None and (saved.target, saved.ts, saved.urgency) == (D("-2"), 1240.0, None)
        assert await store.load_target("ETHUSDT") is None
    finally:
        if isinstance(store, RedisStore):
            await store.close()


def test_the_queue_aware_share_is_configurable_and_checked() -> None:
    assert UrgencyParams(deadline_s=10, flow_share=0.5).urgency() == Urgency(deadline_s=10, flow_share=0.5)
    with pytest.raises(ValidationError, match="flow_share"):
        UrgencyParams(flow_share=0)
    cfg = config(execution={"max_order_size": "1", "urgency": {"deadline_s": 30, "flow_share": 1.0}})
    assert cfg.instruments[0].execution.params().urgency.flow_share == 1.0
