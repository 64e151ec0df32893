"""A throwaway Redis for a bench run: ``--redis-here``."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from typing import Iterator

import redis


@contextlib.contextmanager
def redis_here() -> Iterator[str]:
    """The URL of a redis-server started for this run (no persistence, a unix socket in a temporary
    directory); it inherits this process's CPU affinity, and is stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="scalebot-bench-") as tmp:
        socket_path = os.path.join(tmp, "redis.sock")
        server = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", socket_path, "--save", "",
                                   "--appendonly", "no"], stdout=subprocess.DEVNULL)
        try:
            url = f"unix://{socket_path}"
            deadline = time.monotonic() + 10
            while True:
                client = redis.Redis.from_url(url)
                try:
                    client.ping()
                    break
                except (redis.ConnectionError, OSError):
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"redis-server did not start on {socket_path}") from None
                    time.sleep(0.05)
                finally:
                    client.close()
            yield url
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
