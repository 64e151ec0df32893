"""Shared fixtures: a reachable Redis (a throwaway one when needed) and per-test key prefixes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from typing import Iterator

import pytest
import redis
import structlog

DEFAULT_URL = "redis://127.0.0.1:6379"


def _reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``$SCALEBOT_REDIS_URL`` (default the local 6379) if it answers, else a throwaway server."""
    url = os.environ.get("SCALEBOT_REDIS_URL", DEFAULT_URL)
    if _reachable(url):
        yield url
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail(f"no Redis at {url} and no redis-server installed: start one or set SCALEBOT_REDIS_URL")
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="scalebot-redis-")
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while not _reachable(url):
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"started redis-server on port {port} but it did not answer")
        time.sleep(0.05)
    os.environ["SCALEBOT_REDIS_URL"] = url
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    name = f"scalebot-test:{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """A test that runs the CLI in-process configures logging onto pytest's captured stream;
    reset it so later tests do not write to a closed stream."""
    yield
    structlog.reset_defaults()
