"""The command line: named config errors with exit code 2, live-mode refusals, a missing Redis
explained in one line (exit 3), secrets never shown, status output."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.config import load_config
from bot.errors import ConfigError, ExitCode

from tests.integration.support import cli, config_dict, write_config


def _write(tmp_path: Path, data: dict) -> str:
    return str(write_config(tmp_path / "c.yaml", data))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["instruments"][0].update(policy={"type": "volatility_target", "target_vol": -0.1,
                                                       "capital_usd": 1000, "max_position": "1"}),
         "instruments[0].policy.target_vol: must be greater than 0 (got -0.1)"),
        (lambda c: c["instruments"][0]["execution"].update(max_order_sise="1"),
         "instruments[0].execution.max_order_sise: unknown key"),
        (lambda c: c["instruments"][0]["risk"].pop("max_position"),
         "instruments[0].risk.max_position: required key is missing"),
        (lambda c: c["instruments"][0]["policy"].update(type="martingale_forever"),
         "instruments[0].policy.type: unknown type (got 'martingale_forever'"),
        (lambda c: c["venue"]["markets"]["BTC-PERP"].update(tick_size="-1"),
         "venue.markets.BTC-PERP.tick_size: must be greater than 0 (got '-1')"),
        (lambda c: c.update(mode="demo"), "mode: must be 'paper' or 'live' (got 'demo')"),
        (lambda c: c["instruments"].append(dict(c["instruments"][0])), "instruments: each symbol once"),
        (lambda c: c["redis"].update(intent_timeout_ms=-5),
         "redis.intent_timeout_ms: must be greater than or equal to 0 (got -5)"),
    ],
)
def test_bad_config_names_key_value_and_expectation(tmp_path, capsys, mutate, expected) -> None:
    data = config_dict("p")
    mutate(data)
    assert main(["check-config", _write(tmp_path, data)]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err


def test_malformed_yaml_and_missing_file(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("mode: paper\ninstruments: [\n")
    assert main(["check-config", str(bad)]) == ExitCode.CONFIG
    assert "malformed YAML" in capsys.readouterr().err
    assert main(["check-config", str(tmp_path / "absent.yaml")]) == ExitCode.CONFIG
    assert "cannot read config" in capsys.readouterr().err


def test_secrets_resolve_from_env_and_never_show(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SB_TEST_KEY", "key-abc-123")
    monkeypatch.setenv("SB_TEST_SECRET", "sec-xyz-789")
    data = config_dict("p")
    data["credentials"] = {"api_key": "${SB_TEST_KEY}", "secret": "${SB_TEST_SECRET}"}
    config = load_config(_write(tmp_path, data))
    assert config.credentials.secret.get_secret_value() == "sec-xyz-789"
    assert "sec-xyz-789" not in repr(config) and "key-abc-123" not in str(config.model_dump())


def test_unset_secret_env_is_named(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("SB_NOT_SET", raising=False)
    data = config_dict("p")
    data["credentials"] = {"api_key": "${SB_NOT_SET}", "secret": "x"}
    with pytest.raises(ConfigError, match=r"credentials.api_key: environment variable SB_NOT_SET is not set"):
        load_config(_write(tmp_path, data))


def test_live_mode_needs_flag_and_exchange(tmp_path, capsys) -> None:
    data = config_dict("p")
    data["mode"] = "live"
    assert main(["check-config", _write(tmp_path, data)]) == ExitCode.CONFIG
    assert "credentials: required when mode is live" in capsys.readouterr().err
    paper = _write(tmp_path, config_dict("p"))
    assert main(["run", "--config", paper, "--live"]) == ExitCode.CONFIG
    assert "--live given but the config's mode is 'paper'" in capsys.readouterr().err


def test_missing_redis_is_one_actionable_line(tmp_path) -> None:
    config = _write(tmp_path, config_dict("p"))
    for args in (["run", "--config", config], ["status", "--config", config]):
        result = cli(*args, env={"SCALEBOT_REDIS_URL": "redis://:hunter2@127.0.0.1:1/0"})
        assert result.returncode == ExitCode.REDIS_UNAVAILABLE
        assert "cannot reach Redis at redis://:***@127.0.0.1:1/0" in result.stderr
        assert "redis-server --daemonize yes" in result.stderr
        assert "Traceback" not in result.stderr and "hunter2" not in result.stderr


def test_usage_errors_exit_2() -> None:
    result = cli("kill")
    assert result.returncode == 2 and "--reason" in result.stderr


def test_status_of_an_empty_prefix(tmp_path, prefix) -> None:
    config = _write(tmp_path, config_dict(prefix))
    result = cli("status", "--config", config)
    assert result.returncode == 0 and "no instruments yet" in result.stdout
    as_json = yaml.safe_load(cli("status", "--config", config, "--json").stdout)
    assert as_json["prefix"] == prefix and as_json["instruments"] == {}
