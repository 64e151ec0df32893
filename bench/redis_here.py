"""Where a bench's Redis is: ``--redis URL``, or ``--redis-here`` for a throwaway one."""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import tempfile
import time
from typing import Iterator

import redis


def add_redis_arguments(parser: argparse.ArgumentParser) -> None:
    """``--redis URL`` or ``--redis-here``, one of them."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    where.add_argument("--redis-here", action="store_true",
                       help="start a throwaway redis-server on a unix socket, on this process's CPUs (with taskset "
                            "-c 0: Redis shares the bench's core), and use it instead of --redis")


def redis_url(args: argparse.Namespace) -> contextlib.AbstractContextManager[str]:
    """The URL the arguments name, the throwaway server's for as long as the context lasts."""
    return redis_here() if args.redis_here else contextlib.nullcontext(args.redis)


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
