"""Redis behind Sentinel: the store's two clients from a ``redis+sentinel://`` URL reach the
primary and follow a failover, against a primary, a replica and a Sentinel started here; the
URL's parsing and its redaction."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import shutil
import socket
import subprocess
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel
import redis.sentinel

from bot.core.types import Order, OrderStatus, Side
from bot.state.base import kill_scopes
from bot.state.connect import SENTINEL_URL_FORM, SentinelTarget, parse_sentinel_url, redis_clients
from bot.errors import ConfigError
from bot.state.store import RedisStore
from bot.state.keys import redact_url

REDIS_SERVER = shutil.which("redis-server")
needs_server = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")
SERVICE = "mymaster"
TIMEOUTS = dict(connect_timeout_s=2, timeout_s=5, blocking_timeout_s=0.1)
"""As the store's: the asyncio client 2 s to connect and 5 s for a reply, the blocking one 0.1 s."""


def _port(low: int) -> int:
    """A free loopback port in ``low`` .. ``low + 999``."""
    for _ in range(200):
        port = random.randrange(low, low + 1000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}..{low + 999}")


def _wait(what: str, check: Callable[[], Any], timeout: float = 10.0, logs: list[Path] = ()) -> Any:
    """``check()``'s first truthy result (errors count as not yet), polling for ``timeout`` s."""
    deadline = time.monotonic() + timeout
    error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (redis.RedisError, OSError) as exc:
            error = exc
        time.sleep(0.02)
    tails = "".join(f"\n--- {p.name}:\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:])
                    for p in logs if p.exists())
    pytest.fail(f"timed out after {timeout} s waiting for {what} (last error: {error!r}){tails}")


@dataclasses.dataclass
class Setup:
    """A primary, its replica and one Sentinel monitoring them as ``mymaster``."""

    primary_port: int
    replica_port: int
    sentinel_port: int
    password: str | None
    sentinel_password: str | None
    tls: dict[str, Any]
    """The clients' TLS arguments (empty: no TLS)."""
    logs: list[Path]

    def node(self, port: int, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, db=db, password=self.password, decode_responses=True,
                           socket_timeout=5, **self.tls)

    def sentinel(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.sentinel_port, password=self.sentinel_password,
                           decode_responses=True, socket_timeout=5, **self.tls)

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{SERVICE}"


def _certificates(folder: Path) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it."""
    paths = {n: folder / f"{n}.pem" for n in ("ca_key", "ca", "key", "csr", "cert")}
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run = lambda *a: subprocess.run(["openssl", *map(str, a)], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
        paths["ca_key"], "-out", paths["ca"], "-days", "2", "-subj", "/CN=scalebot-test-ca")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", paths["key"],
        "-out", paths["csr"], "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", paths["csr"], "-CA", paths["ca"], "-CAkey", paths["ca_key"], "-CAcreateserial",
        "-out", paths["cert"], "-days", "2", "-extfile", ext)
    return paths


@contextlib.contextmanager
def _servers(tmp_path: Path, password: str | None = None, sentinel_password: str | None = None,
             tls: bool = False) -> Iterator[Setup]:
    """Start them (a bounded wait until the Sentinel sees the replica in sync); always killed."""
    primary, replica, sentinel = _port(16000), _port(16000), _port(26000)
    while replica == primary:
        replica = _port(16000)
    auth = ["--requirepass", password, "--masterauth", password] if password else []
    tls_conf: list[str] = []  # "name value" lines, for the nodes' command lines and the Sentinel's file
    client_tls: dict[str, Any] = {}
    if tls:
        certs = _certificates(tmp_path)
        tls_conf = [f"tls-cert-file {certs['cert']}", f"tls-key-file {certs['key']}",
                    f"tls-ca-cert-file {certs['ca']}", "tls-auth-clients no", "tls-replication yes"]
        client_tls = {"ssl": True, "ssl_ca_certs": str(certs["ca"])}

    def listen(port: int) -> list[str]:
        return ["port 0", f"tls-port {port}"] if tls else [f"port {port}"]

    def args(lines: list[str]) -> list[str]:
        return [part for line in lines for part in (f"--{line.split(' ', 1)[0]}", line.split(" ", 1)[1])]

    # a replica syncs at once (Redis 7 waits 5 s for more replicas to share a diskless sync)
    node = [REDIS_SERVER, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--dir", str(tmp_path), "--repl-diskless-sync-delay", "0", *auth, *args(tls_conf)]
    conf = tmp_path / "sentinel.conf"
    conf.write_text("\n".join([
        *listen(sentinel), "bind 127.0.0.1", "daemonize no", f"dir {tmp_path}", *tls_conf,
        f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 1",
        f"sentinel down-after-milliseconds {SERVICE} 1000",
        f"sentinel failover-timeout {SERVICE} 2000",
        *([f"sentinel auth-pass {SERVICE} {password}"] if password else []),
        *([f"requirepass {sentinel_password}"] if sentinel_password else []), ""]))
    logs = [tmp_path / n for n in ("primary.log", "replica.log", "sentinel.log")]
    procs: list[subprocess.Popen] = []
    clients: list[redis.Redis] = []
    try:
        for command, log in (([*node, *args(listen(primary))], logs[0]),
                             ([*node, *args(listen(replica)), "--replicaof", "127.0.0.1", str(primary)], logs[1]),
                             ([REDIS_SERVER, str(conf), "--sentinel"], logs[2])):
            with open(log, "wb") as out:
                procs.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT))
        setup = Setup(primary, replica, sentinel, password, sentinel_password, client_tls, logs)
        s, r = setup.sentinel(), setup.node(replica)
        clients += [s, r]
        _wait("the sentinel", s.ping, logs=logs)
        # Sentinel's test knobs (Redis 7): look at the nodes every 100 ms, not 10 s, so that it sees
        # the replica, promotes it and reconfigures the old primary within a second or two
        s.execute_command("SENTINEL", "DEBUG", "info-period", "100", "publish-period", "100")
        _wait("the replica in sync", lambda: r.info("replication")["master_link_status"] == "up", logs=logs)
        _wait("the sentinel to see the replica", lambda: any(
            x["port"] == replica and x["master-link-status"] == "ok" and not x["is_sdown"]
            for x in s.sentinel_slaves(SERVICE)), logs=logs)
        yield setup
    finally:
        for client in clients:
            client.close()
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait(10)


@pytest.fixture
def sentinel_setup(tmp_path: Path) -> Iterator[Setup]:
    with _servers(tmp_path) as setup:
        yield setup


def _key() -> str:
    return f"scalebot-test:{uuid.uuid4().hex[:12]}"


# (1) and (2): real servers --------------------------------------------------------------------
@needs_server
async def test_both_clients_write_and_read_through_the_primary(sentinel_setup: Setup) -> None:
    setup = sentinel_setup
    fast, blocking = redis_clients(setup.url, **TIMEOUTS)
    try:
        k1, k2 = _key(), _key()
        await fast.set(k1, "from-async")
        assert blocking.set(k2, "from-blocking")
        assert await fast.get(k2) == "from-blocking"  # decoded: str, not bytes
        assert blocking.get(k1) == "from-async"
        primary = setup.node(setup.primary_port)
        assert primary.info("replication")["role"] == "master"
        assert primary.mget(k1, k2) == ["from-async", "from-blocking"]
        pipe = blocking.pipeline(transaction=False)  # as the store's intents go
        pipe.execute_command("EVAL", "return redis.call('INCR', KEYS[1])", 1, k1 + ":n")
        assert pipe.execute(raise_on_error=False) == [1]
        assert await fast.incr(k1 + ":n") == 2
        primary.close()
    finally:
        await fast.aclose()
        blocking.close()


@needs_server
async def test_a_sentinel_that_is_down_is_skipped_at_once(sentinel_setup: Setup) -> None:
    """The Sentinels are asked in turn, each once: one that is down costs the blocking client no
    more than its connect timeout (redis-py's default would retry it for seconds)."""
    down = _port(26000)
    while down == sentinel_setup.sentinel_port:
        down = _port(26000)
    fast, blocking = redis_clients(f"redis+sentinel://127.0.0.1:{down},127.0.0.1:{sentinel_setup.sentinel_port}/"
                                   f"{SERVICE}", **TIMEOUTS)
    try:
        started = time.monotonic()
        assert blocking.set(_key(), "x")
        assert time.monotonic() - started < 1.0
        started = time.monotonic()
        assert await fast.ping()
        assert time.monotonic() - started < 1.0
    finally:
        await fast.aclose()
        blocking.close()


@needs_server
async def test_both_clients_follow_a_failover(sentinel_setup: Setup) -> None:
    setup = sentinel_setup
    fast, blocking = redis_clients(setup.url, **TIMEOUTS)
    old, new, sentinel = setup.node(setup.primary_port), setup.node(setup.replica_port), setup.sentinel()
    try:
        k1, k2 = _key(), _key()
        await fast.set(k1, "before")
        blocking.set(k2, "before")
        _wait("the writes on the replica", lambda: new.mget(k1, k2) == ["before", "before"])
        pubsub = fast.pubsub()
        await pubsub.subscribe(k1 + ":ch")
        assert (await pubsub.get_message(timeout=1))["type"] == "subscribe"
        sha = blocking.script_load("return redis.call('INCR', KEYS[1])")

        _wait("the failover to start", lambda: sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE),
              logs=setup.logs)  # NOGOODSLAVE until the Sentinel's view of the replica is fresh
        _wait("the sentinel to name the former replica",
              lambda: int(sentinel.sentinel_get_master_addr_by_name(SERVICE)[1]) == setup.replica_port,
              logs=setup.logs)
        # the failover ends when the Sentinel has reconfigured the old primary as a replica of
        # the new one (and closed its clients' connections)
        _wait("the roles to switch", lambda: (new.info("replication")["role"], old.info("replication")["role"])
              == ("master", "slave"), logs=setup.logs)

        errors: list[str] = []

        async def written() -> bool:
            token = uuid.uuid4().hex
            try:
                await fast.set(k1, token)
                blocking.set(k2, token)
            except (redis.ConnectionError, redis.TimeoutError) as exc:  # a connection the failover closed
                errors.append(f"{type(exc).__name__}: {exc}")
                return False
            return new.mget(k1, k2) == [token, token]

        deadline = time.monotonic() + 5
        while not await written():
            assert time.monotonic() < deadline, f"writes did not reach the new primary: {errors}"
            await asyncio.sleep(0.05)
        assert len(errors) <= 4, errors
        assert int(sentinel.sentinel_get_master_addr_by_name(SERVICE)[1]) == setup.replica_port
        assert await fast.get(k2) == blocking.get(k1)  # reads go there too
        _wait("the old primary to replicate the new one", lambda: old.mget(k1, k2) == new.mget(k1, k2))
        with pytest.raises(redis.ReadOnlyError):
            old.set(k1, "stale")

        # pub/sub: the Sentinel closed the subscription's connection; a new one reaches the new primary
        with pytest.raises(redis.ConnectionError):
            await pubsub.get_message(timeout=1)
        await pubsub.aclose()
        pubsub = fast.pubsub()
        await pubsub.subscribe(k1 + ":ch")
        assert (await pubsub.get_message(timeout=1))["type"] == "subscribe"
        assert blocking.publish(k1 + ":ch", "after") == 1
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
        assert message is not None and message["data"] == "after"
        await pubsub.aclose()

        # the script cache is not replicated: the new primary answers NOSCRIPT until it is loaded
        # again (the store reloads its scripts on NoScriptError)
        assert new.script_exists(sha) == [False]
        with pytest.raises(redis.exceptions.NoScriptError):
            blocking.evalsha(sha, 1, k1 + ":n")
        assert blocking.script_load("return redis.call('INCR', KEYS[1])") == sha
        assert blocking.evalsha(sha, 1, k1 + ":n") == 1
        assert await fast.evalsha(sha, 1, k1 + ":n") == 2
    finally:
        await fast.aclose()
        blocking.close()
        for client in (old, new, sentinel):
            client.close()


@needs_server
async def test_the_store_journals_through_the_sentinel_and_after_a_failover(sentinel_setup: Setup) -> None:
    """The store itself on a Sentinel URL: a new order's intent (blocking connection), its queued
    journal write (pipelined) and a kill-switch read reach the primary, and go on reaching the
    new primary after a failover (its scripts loaded again on NOSCRIPT)."""
    setup = sentinel_setup
    store = RedisStore(setup.url, f"sentinel-{uuid.uuid4().hex[:6]}")
    scopes = kill_scopes("BTC-PERP", "default")

    async def placed() -> str:
        cid, switch = await store.place_intent(_order(), scopes, reducing=False)
        assert cid is not None and switch is None
        store.queue_order(dataclasses.replace(_order(), client_order_id=cid, status=OrderStatus.OPEN))
        await store.flush()
        return cid

    sentinel, replica = setup.sentinel(), setup.node(setup.replica_port)
    try:
        first = await placed()
        assert {o.client_order_id: o.status for o in await store.load_orders("BTC-PERP")} == {first: OrderStatus.OPEN}
        _wait("the journal on the replica", lambda: replica.hget(store.keys.orders("BTC-PERP"), first) is not None)
        _wait("the failover to start", lambda: sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE),
              logs=setup.logs)
        _wait("the sentinel to name the former replica",
              lambda: int(sentinel.sentinel_get_master_addr_by_name(SERVICE)[1]) == setup.replica_port,
              logs=setup.logs)
        _wait("the roles to switch", lambda: setup.node(setup.replica_port).info("replication")["role"] == "master"
              and setup.node(setup.primary_port).info("replication")["role"] == "slave", logs=setup.logs)
        deadline = time.monotonic() + 5
        while True:  # a connection the failover closed fails once (the intent is then not sent)
            try:
                second = await placed()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
        orders = {o.client_order_id: o.status for o in await store.load_orders("BTC-PERP")}
        assert orders[first] == orders[second] == OrderStatus.OPEN
        assert replica.hget(store.keys.orders("BTC-PERP"), second) is not None  # on the new primary
        assert await store.kill_switch(scopes) is None
    finally:
        await store.close()
        sentinel.close()
        replica.close()


def _order() -> Order:
    return Order("", "BTC-PERP", Side.BUY, Decimal("100.5"), Decimal("0.25"), OrderStatus.PENDING, 1.5)


@needs_server
async def test_passwords_and_db_number(tmp_path: Path) -> None:
    """The data nodes' password from the user info, the Sentinel's from ``sentinel_password``,
    and the database number; a wrong Sentinel password fails without showing either password."""
    with _servers(tmp_path, password="data-pw-1", sentinel_password="sentinel-pw-2") as setup:
        base = f"127.0.0.1:{setup.sentinel_port}/{SERVICE}/3"
        fast, blocking = redis_clients(f"redis+sentinel://:data-pw-1@{base}?sentinel_password=sentinel-pw-2",
                                       **TIMEOUTS)
        try:
            k = _key()
            await fast.set(k, "a")
            blocking.append(k, "b")
            assert setup.node(setup.primary_port, db=3).get(k) == "ab"
            assert setup.node(setup.primary_port, db=0).get(k) is None
        finally:
            await fast.aclose()
            blocking.close()
        for url, error in ((f"redis+sentinel://:data-pw-1@{base}?sentinel_password=wrong-pw-3",
                            redis.sentinel.MasterNotFoundError),
                           (f"redis+sentinel://:data-pw-1@{base}", redis.sentinel.MasterNotFoundError),
                           (f"redis+sentinel://:wrong-pw-3@{base}?sentinel_password=sentinel-pw-2",
                            redis.AuthenticationError)):
            fast, blocking = redis_clients(url, **TIMEOUTS)
            try:
                with pytest.raises(error) as raised:
                    blocking.ping()
                with pytest.raises(redis.RedisError) as raised_async:
                    await fast.ping()
                for text in (str(raised.value), str(raised_async.value)):
                    assert not any(pw in text for pw in ("data-pw-1", "sentinel-pw-2", "wrong-pw-3")), text
            finally:
                await fast.aclose()
                blocking.close()


@needs_server
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
async def test_tls_to_the_sentinel_and_the_nodes(tmp_path: Path) -> None:
    with _servers(tmp_path, password="data-pw", tls=True) as setup:
        ca = setup.tls["ssl_ca_certs"]
        fast, blocking = redis_clients(f"redis+sentinel://:data-pw@127.0.0.1:{setup.sentinel_port}/{SERVICE}"
                                       f"?ssl=true&ssl_ca_certs={ca}", **TIMEOUTS)
        try:
            k = _key()
            await fast.set(k, "a")
            blocking.append(k, "b")
            primary = setup.node(setup.primary_port)
            assert primary.get(k) == "ab"
            primary.close()
        finally:
            await fast.aclose()
            blocking.close()
        plain, _ = redis_clients(setup.url, **TIMEOUTS)  # without ssl=true the Sentinel is not reached
        with pytest.raises(redis.ConnectionError):
            await plain.ping()
        await plain.aclose()


# the clients, without servers -----------------------------------------------------------------
async def test_plain_urls_are_from_url_as_before() -> None:
    for url in ("redis://127.0.0.1:6379/2", "rediss://:pw@127.0.0.1:6380/0", "unix:///tmp/redis.sock?db=1"):
        fast, blocking = redis_clients(url, connect_timeout_s=2, timeout_s=5, blocking_timeout_s=0.1)
        assert type(fast) is aioredis.Redis and type(blocking) is redis.Redis
        for client, made, timeout, connect in (
                (fast, aioredis.from_url(url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5), 5, 2),
                (blocking, redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=0.1,
                                                socket_timeout=0.1), 0.1, 0.1)):
            assert client.connection_pool.connection_class is made.connection_pool.connection_class
            got, expected = client.connection_pool.connection_kwargs, made.connection_pool.connection_kwargs
            for name in ("host", "port", "path", "db", "username", "password", "decode_responses",
                         "socket_timeout", "socket_connect_timeout"):
                assert got.get(name) == expected.get(name), name
            assert (got["socket_timeout"], got["socket_connect_timeout"], got["decode_responses"]) \
                == (timeout, connect, True)
        await fast.aclose()
        blocking.close()


async def test_sentinel_clients_are_configured_from_the_url() -> None:
    url = "redis+sentinel://app:data%2Fpw@h1:26380,[::1],h3/svc/4?sentinel_password=s%26p&ssl=true"
    fast, blocking = redis_clients(url, connect_timeout_s=2, timeout_s=5, blocking_timeout_s=0.1)
    try:
        for client, pool_class, timeout, connect in (
                (fast, redis.asyncio.sentinel.SentinelConnectionPool, 5, 2),
                (blocking, redis.sentinel.SentinelConnectionPool, 0.1, 0.1)):
            pool = client.connection_pool
            assert isinstance(pool, pool_class) and pool.is_master and pool.service_name == "svc"
            kwargs = pool.connection_kwargs
            assert (kwargs["db"], kwargs["username"], kwargs["password"]) == (4, "app", "data/pw")
            assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"], kwargs["decode_responses"]) \
                == (timeout, connect, True)
            assert "SSL" in pool.connection_class.__name__
            manager = pool.sentinel_manager
            assert [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
                    for s in manager.sentinels] == [("h1", 26380), ("::1", 26379), ("h3", 26379)]
            sentinel_kwargs = manager.sentinels[0].connection_pool.connection_kwargs
            assert sentinel_kwargs["password"] == "s&p" and sentinel_kwargs.get("username") is None
            assert sentinel_kwargs["retry"].get_retries() == 0
            assert (sentinel_kwargs["socket_timeout"], sentinel_kwargs["socket_connect_timeout"]) == (timeout, connect)
            assert "SSL" in manager.sentinels[0].connection_pool.connection_class.__name__
    finally:
        await fast.aclose()
        blocking.close()


# (3) the URL ----------------------------------------------------------------------------------
@pytest.mark.parametrize("url, expected", [
    ("redis+sentinel://127.0.0.1:26379/mymaster",
     SentinelTarget(sentinels=(("127.0.0.1", 26379),), service="mymaster")),
    ("redis+sentinel://s1:26380,s2,10.0.0.3:5000/cache/7",
     SentinelTarget(sentinels=(("s1", 26380), ("s2", 26379), ("10.0.0.3", 5000)), service="cache", db=7)),
    ("REDIS+SENTINEL://[::1]:26381,[fe80::1%eth0]/svc/",
     SentinelTarget(sentinels=(("::1", 26381), ("fe80::1%eth0", 26379)), service="svc")),
    ("redis+sentinel://:p%40ss:w%2Frd@h:1/svc/0?sentinel_password=sp&sentinel_username=watch",
     SentinelTarget(sentinels=(("h", 1),), service="svc", password="p@ss:w/rd", sentinel_password="sp",
                    sentinel_username="watch")),
    ("redis+sentinel://app:pw@h/svc?ssl=true&ssl_ca_certs=/etc/ca.pem",
     SentinelTarget(sentinels=(("h", 26379),), service="svc", username="app", password="pw", ssl=True,
                    ssl_ca_certs="/etc/ca.pem")),
    ("redis+sentinel://app@h/my%20svc?ssl=false&", SentinelTarget(sentinels=(("h", 26379),), service="my svc",
                                                                   username="app")),
])
def test_sentinel_url_parsed(url: str, expected: SentinelTarget) -> None:
    assert parse_sentinel_url(url) == expected


def test_the_passwords_stay_out_of_the_repr() -> None:
    target = parse_sentinel_url("redis+sentinel://:pw-one@h/svc?sentinel_password=pw-two")
    assert (target.password, target.sentinel_password) == ("pw-one", "pw-two")
    assert "pw-one" not in repr(target) and "pw-two" not in repr(target)


@pytest.mark.parametrize("url, problem", [
    ("redis://:hunter22@h:6379/0", "the scheme is not redis+sentinel://"),
    ("redis+sentinel://:hunter22@/mymaster", "no sentinel host"),
    ("redis+sentinel://:hunter22@h1,,h3/mymaster", "sentinel host 2 of 3 is empty"),
    ("redis+sentinel://:hunter22@h1:26379,h2:x/mymaster", "the port of sentinel host 2 of 2 'h2:x' is not a number"),
    ("redis+sentinel://:hunter22@h1:70000/mymaster", "the port of the sentinel host 'h1:70000' is not a number"),
    ("redis+sentinel://:hunter22@::1:26379/mymaster", "an IPv6 address goes in brackets"),
    ("redis+sentinel://:hunter22@[::1/mymaster", "'[::1' is not [IPv6]:PORT"),
    ("redis+sentinel://:hunter22@h bad/mymaster", "'h bad' is not HOST:PORT"),
    ("redis+sentinel://:hunter22@h:26379", "no service name"),
    ("redis+sentinel://:hunter22@h:26379/", "no service name"),
    ("redis+sentinel://:hunter22@h:26379?sentinel_password=hunter33", "no service name"),
    ("redis+sentinel://:hunter22@h/mymaster/x1", "the database 'x1' is not a number"),
    ("redis+sentinel://:hunter22@h/mymaster/1/2", "too many path segments in '/mymaster/1/2'"),
    ("redis+sentinel://:hunter22@h/mymaster?db=2", "unknown option 'db'"),
    ("redis+sentinel://:hunter22@h/mymaster?password=hunter22", "unknown option 'password'"),
    ("redis+sentinel://:hunter22@h/mymaster?ssl", "an option without a value"),
    ("redis+sentinel://h/mymaster?sentinel_password=hunter&33", "an option without a value"),
    ("redis+sentinel://:hunter22@h/m?sentinel_password=hunter33&sentinel_password=hunter33", "given twice"),
    ("redis+sentinel://:hunter22@h/mymaster?ssl=maybe", "ssl='maybe' is neither true nor false"),
    ("redis+sentinel://:hunter22@h/mymaster?ssl_ca_certs=/ca.pem", "ssl_ca_certs without ssl=true"),
    # a password with an unencoded '/', '?' or '#': nothing after the hosts is quoted
    ("redis+sentinel://:hunter/22@h/mymaster", "an '@' after the hosts"),
    ("redis+sentinel://:hunter?22@h/mymaster", "an '@' after the hosts"),
    ("redis+sentinel://:hunter#22@h/mymaster", "a '#'"),
    ("redis+sentinel://h/mymaster?sentinel_password=hunter#33", "a '#'"),
])
def test_bad_sentinel_url_named_without_the_password(url: str, problem: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_sentinel_url(url)
    message = str(raised.value)
    assert problem in message
    assert SENTINEL_URL_FORM in message
    assert "hunter" not in message  # no password, nor a part of one
    if url.startswith("redis+sentinel:"):
        with pytest.raises(ValueError, match="bad Redis Sentinel URL"):
            redis_clients(url, **TIMEOUTS)


def test_another_sentinel_scheme_is_pointed_to_the_form() -> None:
    with pytest.raises(ValueError, match=r"the scheme is not redis\+sentinel://.*ssl=true"):
        redis_clients("rediss+sentinel://h:26379/mymaster", **TIMEOUTS)


# (4) redact_url -------------------------------------------------------------------------------
@pytest.mark.parametrize("url, shown", [
    ("redis+sentinel://:pw@h1:26379,h2:26379/mymaster/2",
     "redis+sentinel://:***@h1:26379,h2:26379/mymaster/2"),
    ("redis+sentinel://app:p%40w@[::1]:26379,h2/mymaster?sentinel_password=spw&ssl=true",
     "redis+sentinel://app:***@[::1]:26379,h2/mymaster?sentinel_password=***&ssl=true"),
    ("redis+sentinel://h1:26379,h2:26379/mymaster?ssl=true&sentinel_password=spw",
     "redis+sentinel://h1:26379,h2:26379/mymaster?ssl=true&sentinel_password=***"),
    ("redis+sentinel://h1:26379,h2:26379/mymaster", "redis+sentinel://h1:26379,h2:26379/mymaster"),
    ("redis+sentinel://app@h1:26379/mymaster", "redis+sentinel://app@h1:26379/mymaster"),
    # plain URLs, as before
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("redis://trader:s3cret@127.0.0.1:6379/0", "redis://trader:***@127.0.0.1:6379/0"),
    ("redis://trader:@127.0.0.1", "redis://trader:***@127.0.0.1"),
    ("rediss://:pw@127.0.0.1:6380/0?ssl_ca_certs=/ca.pem", "rediss://:***@127.0.0.1:6380/0?ssl_ca_certs=/ca.pem"),
    ("redis://:pw@[::1]:6379/0", "redis://:***@[::1]:6379/0"),
    ("redis://127.0.0.1:6379/0?password=pw", "redis://127.0.0.1:6379/0?password=***"),
    ("unix://:pw@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1"),
    ("redis://:pw@[::1:6379/0", "redis://:***@[::1:6379/0"),  # unparseable, still hidden
    # unencoded / ? # @ in a password: all of the user info up to the last '@' is hidden
    ("redis+sentinel://:s3c#ret@h1:26379/mymaster", "redis+sentinel://:***@h1:26379/mymaster"),
    ("redis+sentinel://:s3c/ret@h1:26379/mymaster", "redis+sentinel://:***@h1:26379/mymaster"),
    ("redis://:p@ss?w#rd@host:6379/0", "redis://:***@host:6379/0"),
    ("redis+sentinel://h1/m?sentinel_password=a#b", "redis+sentinel://h1/m?sentinel_password=***"),
    ("no-scheme:pw@host", "***"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize("url", ["redis+sentinel://:s3c#ret@h1:26379/mymaster",
                                 "redis+sentinel://:s3c/ret@h1:26379/mymaster",
                                 "redis+sentinel://h1/m?sentinel_password=s3c#ret"])
def test_a_bad_url_stops_the_store_with_a_config_error_that_shows_no_password(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        RedisStore(url, "x")
    assert "s3c" not in str(raised.value) and "ret" not in str(raised.value).replace("redis", "")
    assert "redis.url" in str(raised.value)
