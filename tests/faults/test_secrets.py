"""Secrets (issue 7): scan all log output of a run for the configured secrets. A paper run with
credentials from the environment, ``status``, ``kill`` and ``resume`` against it, and bad
configurations whose errors echo values: no secret may appear on any stdout or stderr."""

from __future__ import annotations

import copy
import signal
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.faults.support import Daemon, free_port
from tests.faults.test_config_fuzz import check
from tests.integration.support import QUIET_MARKET, cli, config_dict, write_config

TOKEN = uuid.uuid4().hex[:10]
SECRETS = {"SB_KEY": f"key{TOKEN}K", "SB_SECRET": f"sec{TOKEN}S", "SB_PASSWORD": f"pwd{TOKEN}P"}
CREDENTIALS = {"api_key": "${SB_KEY}", "secret": "${SB_SECRET}", "password": "${SB_PASSWORD}"}


def _with_credentials(prefix: str, credentials: Any = CREDENTIALS) -> dict[str, Any]:
    data = config_dict(prefix, target="2", **QUIET_MARKET)  # orders keep working
    data["credentials"] = copy.deepcopy(credentials)
    data["logging"]["level"] = "debug"
    return data


def _leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


def test_no_secret_in_any_output_of_a_run_and_the_commands(
        prefix: str, redis_url: str, tmp_path: Path, daemons: list[Daemon]) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(SECRETS["SB_PASSWORD"] + "\n")
    password_file.chmod(0o600)
    config = write_config(tmp_path / "c.yaml", _with_credentials(
        prefix, {**CREDENTIALS, "password": f"${{file:{password_file}}}"}))  # the password from a file
    config.chmod(0o600)
    outputs: dict[str, str] = {}

    # bad configurations and command lines whose errors echo values (run meanwhile, in the background)
    bad_price = _with_credentials(prefix)
    bad_price["venue"]["markets"]["BTC-PERP"]["price"] = -1
    extra_key = _with_credentials(prefix, {**CREDENTIALS, "token": "${SB_SECRET}"})
    wrong_types = _with_credentials(prefix, {"api_key": ["${SB_KEY}"], "secret": {"x": "${SB_SECRET}"},
                                             "password": 5})
    live = _with_credentials(prefix)
    live["mode"] = "live"
    bad_runs = {
        "run, price out of range": ["run", "--config", str(write_config(tmp_path / "b1.yaml", bad_price))],
        "check-config, unknown credentials key": ["check-config", str(write_config(tmp_path / "b2.yaml", extra_key))],
        "check-config, credentials of the wrong type": [
            "check-config", str(write_config(tmp_path / "b3.yaml", wrong_types))],
        "run, live mode on the simulated venue": ["run", "--live", "--config", str(write_config(tmp_path / "b4.yaml", live))],
        "run --live on a paper config": ["run", "--live", "--config", str(config)],
    }
    # and Redis unreachable at a URL that carries the password
    unreachable = {"SCALEBOT_REDIS_URL": f"redis://:{SECRETS['SB_PASSWORD']}@127.0.0.1:{free_port()}"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        bad = {name: pool.submit(cli, *args, env=SECRETS) for name, args in bad_runs.items()}
        redis_down = pool.submit(cli, "run", "--config", str(config), env={**SECRETS, **unreachable})

        daemon = Daemon(config, tmp_path / "run.log", env=SECRETS)
        daemons.append(daemon)
        daemon.wait_event("order.placed", 30)
        for name, args in (("status", []), ("status --json", ["--json"]), ("kill", ["--reason", "secrets test"]),
                           ("resume", ["--reason", "secrets test over"])):
            result = cli(name.split()[0], "--config", str(config), *args, env=SECRETS)
            assert result.returncode == 0, result.stderr
            outputs[name] = result.stdout + result.stderr
        daemon.wait_event("kill_switch.lifted", 10)
        assert daemon.stop(signal.SIGTERM) == 0, daemon.tail()
        outputs["run"] = daemon.text()
        assert "kill_switch.engaged" in outputs["run"] and "order.cancelled" in outputs["run"]

        for name, future in bad.items():
            result = future.result()
            assert result.returncode == 2, f"{name}: exit {result.returncode}\n{result.stderr}"
            outputs[name] = result.stdout + result.stderr
        result = redis_down.result()
        assert result.returncode == 3, result.stderr
        assert "redis://:***@127.0.0.1" in result.stderr
        outputs["run, Redis unreachable"] = result.stdout + result.stderr

    assert all(outputs.values())
    assert {name: _leaks(text) for name, text in outputs.items() if _leaks(text)} == {}
    assert "Traceback" not in "".join(outputs.values())


@pytest.mark.parametrize("credentials", ["${SB_SECRET}", ["${SB_KEY}", "${SB_SECRET}"]], ids=["string", "list"])
def test_credentials_block_of_the_wrong_type_does_not_echo_secrets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, credentials: Any) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_with_credentials("faults-secrets", credentials)))
    code, stderr = check(path)
    assert code == 2
    assert "credentials" in stderr
    assert _leaks(stderr) == [], stderr
