"""The example configs of these policies validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
MINE = ["volatility_target", "inverse_variance", "delta_neutral", "gamma_scalp", "vega_neutral", "factor_tilt"]


@pytest.mark.parametrize("name", MINE)
def test_example_config_validates(name: str) -> None:
    config = load_config(EXAMPLES / f"{name}.yaml")
    assert name in {i.policy.type for i in config.instruments}
    assert config.redis.prefix == f"scalebot:example:{name}"
