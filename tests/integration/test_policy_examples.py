"""Every example config runs on the simulated venue against the real Redis: each instrument's
policy computes a non-zero target and orders go out (one family after another)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bot.config import Config, load_config
from bot.daemon import Daemon
from bot.errors import ExitCode

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
SIMULATED = sorted(p.stem for p in EXAMPLES.glob("*.yaml")
                   if "type: simulated" in p.read_text())


def _fast(config: Config, prefix: str) -> Config:
    """The example with its own key prefix and its market at four times real speed."""
    venue = config.venue.model_copy(update={"speed": 4.0})
    return config.model_copy(update={"redis": config.redis.model_copy(update={"prefix": prefix}), "venue": venue})


@pytest.mark.parametrize("name", SIMULATED)
async def test_example_config_trades(name: str, prefix: str) -> None:
    config = _fast(load_config(EXAMPLES / f"{name}.yaml"), prefix)
    symbols = {i.symbol for i in config.instruments}
    stop = asyncio.Event()
    with capture_logs() as logs:
        run = asyncio.create_task(Daemon(config).run(stop))

        def done() -> bool:
            targeted = {e["instrument"] for e in logs if e["event"] == "target.computed" and float(e["target"]) != 0}
            placed = any(e["event"] == "order.placed" for e in logs)
            return targeted == symbols and placed

        try:
            async with asyncio.timeout(25):
                while not done():
                    assert not run.done(), [e for e in logs if e["log_level"] == "error"]
                    await asyncio.sleep(0.05)
        finally:
            stop.set()
            code = await asyncio.wait_for(run, 15)
    assert code == ExitCode.OK
    assert not [e for e in logs if e["event"] in ("daemon.crashed",)]
