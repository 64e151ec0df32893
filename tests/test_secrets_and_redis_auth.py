"""Secrets: from the environment or a file, never shown, flagged when a readable config holds them;
Redis with ACL users and passwords, and over TLS (``rediss://``), against servers started here."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
import redis
import yaml

from bot.config import exposed_secrets, load_config

from tests.integration.support import cli, config_dict, write_config

REDIS_SERVER = shutil.which("redis-server")
needs_server = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], ping: dict) -> subprocess.Popen:
    proc = subprocess.Popen([REDIS_SERVER, "--save", "", "--appendonly", "no", "--bind", "127.0.0.1", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            if redis.Redis(**ping, socket_connect_timeout=0.5).ping():
                return proc
        except redis.RedisError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)


@pytest.fixture
def acl_redis() -> Iterator[int]:
    port = _free_port()
    proc = _start(["--port", str(port), "--requirepass", "admin-pw"], dict(host="127.0.0.1", port=port, password="admin-pw"))
    admin = redis.Redis(host="127.0.0.1", port=port, password="admin-pw")
    admin.execute_command("ACL", "SETUSER", "trader", "on", ">s3cret-pw", "~*", "&*", "+@all")
    admin.close()
    yield port
    proc.terminate()
    proc.wait(10)


def test_secret_from_a_file_and_a_missing_one_named(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("file-key-123\n")
    data = config_dict("p")
    data["credentials"] = {"api_key": f"${{file:{key}}}", "secret": f"${{file:{tmp_path / 'absent'}}}"}
    path = write_config(tmp_path / "c.yaml", data)
    with pytest.raises(Exception) as info:
        load_config(path)
    assert f"credentials.secret: cannot read secret file {tmp_path / 'absent'}" in str(info.value)
    key2 = tmp_path / "secret"
    key2.write_text("file-secret-456")
    data["credentials"]["secret"] = f"${{file:{key2}}}"
    config = load_config(write_config(path, data))
    assert config.credentials.api_key.get_secret_value() == "file-key-123"
    assert "file-secret-456" not in repr(config)


def test_literal_secrets_in_a_readable_file_are_flagged(tmp_path: Path) -> None:
    data = config_dict("p")
    data["credentials"] = {"api_key": "literal-key", "secret": "${SOME_ENV}"}
    data["redis"]["url"] = "redis://:pw@127.0.0.1:6379/0"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    path.chmod(0o644)
    assert sorted(exposed_secrets(path)) == ["credentials.api_key", "redis.url"]
    path.chmod(0o600)
    assert exposed_secrets(path) == []
    data["redis"]["url"] = "redis+sentinel://10.0.0.1:26379/scalebot?sentinel_password=sp"  # no '@', still a secret
    path.write_text(yaml.safe_dump(data))
    path.chmod(0o644)
    assert sorted(exposed_secrets(path)) == ["credentials.api_key", "redis.url"]


@needs_server
def test_redis_acl_user_and_password(acl_redis: int, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", config_dict("scalebot-test:acl"))
    good = cli("status", "--config", str(config), env={"SCALEBOT_REDIS_URL": f"redis://trader:s3cret-pw@127.0.0.1:{acl_redis}/0"})
    assert good.returncode == 0, good.stderr
    bad = cli("status", "--config", str(config), env={"SCALEBOT_REDIS_URL": f"redis://trader:wrong-pw@127.0.0.1:{acl_redis}/0"})
    assert bad.returncode == 3
    assert "redis://trader:***@127.0.0.1" in bad.stderr and "wrong-pw" not in bad.stderr + bad.stdout


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    ca_key, ca, key, csr, cert = (folder / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
        "-subj", "/CN=scalebot-test-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-out", str(cert),
        "-days", "2", "-extfile", str(ext))
    return ca, cert, key


@needs_server
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_redis_over_tls(tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path)
    port = _free_port()
    proc = _start(["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                   "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no", "--requirepass", "tls-pw"],
                  dict(host="127.0.0.1", port=port, password="tls-pw", ssl=True, ssl_ca_certs=str(ca)))
    try:
        config = write_config(tmp_path / "c.yaml", config_dict("scalebot-test:tls"))
        url = f"rediss://:tls-pw@127.0.0.1:{port}/0?ssl_ca_certs={ca}"
        result = cli("status", "--config", str(config), "--json", env={"SCALEBOT_REDIS_URL": url})
        assert result.returncode == 0, result.stderr
        assert '"prefix": "scalebot-test:tls"' in result.stdout
        plain = cli("status", "--config", str(config), env={"SCALEBOT_REDIS_URL": f"redis://:tls-pw@127.0.0.1:{port}/0"})
        assert plain.returncode == 3 and "tls-pw" not in plain.stderr
    finally:
        proc.terminate()
        proc.wait(10)
