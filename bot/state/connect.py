"""The store's Redis clients, from its URL: a single server, or the primary behind Redis Sentinel.

:func:`redis_clients` makes the two clients the store uses: redis-py's asyncio client and its
blocking one (for the latency-critical intent), both decoding replies to ``str``.

``redis://``, ``rediss://`` (TLS) and ``unix://`` URLs are handed to redis-py's ``from_url``
unchanged. A Sentinel URL names the Sentinels and the service (the ``sentinel monitor`` name)::

    redis+sentinel://[user:password@]host[:port][,host[:port]...]/SERVICE[/DB][?option=value&...]

    redis+sentinel://127.0.0.1:26379/mymaster
    redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26379,10.0.0.3/mymaster/2?sentinel_password=sp

- the hosts are the Sentinels, tried in that order (port 26379 when left out; an IPv6 address in
  brackets: ``[::1]:26379``);
- ``user:password`` (both optional, ``:password`` for the default user) authenticate to the Redis
  data nodes (the primary and its replicas), as in a ``redis://`` URL;
- ``DB`` is the database number, 0 when left out.

Options (each at most once):

- ``sentinel_password``, ``sentinel_username``: the Sentinels' own credentials (Sentinels are
  queried without any unless given; the data nodes' password is not sent to them);
- ``ssl=true``: TLS to the Sentinels and to the data nodes; ``ssl_ca_certs=/path/ca.pem`` the CA
  to verify them with (only with ``ssl=true``).

Percent-encode ``/ ? # @ : & %`` in user names, passwords and the service name (``%2F`` …); a
``+`` stays a ``+``. A malformed Sentinel URL raises :class:`ValueError` naming what is wrong and
the expected form, never the password.

Both clients ask the Sentinels (in turn, each once) for the primary's address whenever they open
a connection, and drop a connection whose server answers that it is a replica now (``READONLY``):
after a failover, once the Sentinel has reconfigured the old primary (which closes its clients'
connections), the next commands go to the new primary; one in flight then fails with a
``ConnectionError``, like any lost connection, and a pub/sub subscription ends with one (subscribe
again). Until then, a connection still open to an old primary that is up (a manual
``SENTINEL FAILOVER``; about 10 s with Sentinel's default timing) keeps writing to it, and those
writes are lost when it becomes a replica: ``min-replicas-to-write 1`` on the data nodes makes it
refuse them (``NOREPLICAS``) instead. Lua scripts are not replicated into the new primary's script
cache: the first ``EVALSHA`` there answers ``NOSCRIPT``. Closing a client (``aclose()`` /
``close()``) also closes its connections to the Sentinels.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable
from urllib.parse import unquote

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel as aiosentinel
import redis.sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

SENTINEL_SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379
SENTINEL_URL_FORM = ("redis+sentinel://[user:password@]host[:port][,host[:port]...]/SERVICE[/DB]"
                     "[?sentinel_password=...&sentinel_username=...&ssl=true&ssl_ca_certs=PATH]")

_OPTIONS = ("sentinel_password", "sentinel_username", "ssl", "ssl_ca_certs")
_HOSTNAME = re.compile(r"[A-Za-z0-9._-]+")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+(%[A-Za-z0-9._-]+)?")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclasses.dataclass(frozen=True)
class SentinelTarget:
    """A parsed Sentinel URL (the passwords are left out of the repr)."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = dataclasses.field(default=None, repr=False)
    ssl: bool = False
    ssl_ca_certs: str | None = None


def is_sentinel_url(url: str) -> bool:
    """Whether ``url`` is a ``redis+sentinel://`` one (any other goes to redis-py's ``from_url``)."""
    return url.partition("://")[0].lower() == SENTINEL_SCHEME and "://" in url


def redis_clients(url: str, *, connect_timeout_s: float, timeout_s: float,
                  blocking_timeout_s: float) -> tuple[aioredis.Redis, redis.Redis]:
    """The asyncio client (``connect_timeout_s`` to connect, ``timeout_s`` for a reply) and the
    blocking client (``blocking_timeout_s`` for both) for ``url``, both ``decode_responses``.
    A Sentinel URL (see the module) gives clients of the current primary that follow a failover;
    the Sentinels are asked with the same timeouts. Raises :class:`ValueError` on a bad URL."""
    if not is_sentinel_url(url) and "sentinel" not in url.partition("://")[0].lower():
        return (aioredis.from_url(url, decode_responses=True, socket_connect_timeout=connect_timeout_s,
                                  socket_timeout=timeout_s),
                redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=blocking_timeout_s,
                                     socket_timeout=blocking_timeout_s))
    target = parse_sentinel_url(url)
    async_sentinel = aiosentinel.Sentinel(target.sentinels, sentinel_kwargs={
        **_sentinel_kwargs(target, connect_timeout_s, timeout_s), "retry": AsyncRetry(NoBackoff(), 0)})
    blocking_sentinel = redis.sentinel.Sentinel(target.sentinels, sentinel_kwargs={
        **_sentinel_kwargs(target, blocking_timeout_s, blocking_timeout_s), "retry": Retry(NoBackoff(), 0)})
    return (async_sentinel.master_for(target.service, redis_class=_AsyncSentinelRedis,
                                      **_node_kwargs(target, connect_timeout_s, timeout_s)),
            blocking_sentinel.master_for(target.service, redis_class=_SentinelRedis,
                                         **_node_kwargs(target, blocking_timeout_s, blocking_timeout_s)))


def _tls_kwargs(target: SentinelTarget) -> dict[str, Any]:
    if not target.ssl:
        return {}
    return {"ssl": True, **({"ssl_ca_certs": target.ssl_ca_certs} if target.ssl_ca_certs else {})}


def _sentinel_kwargs(target: SentinelTarget, connect_timeout_s: float, timeout_s: float) -> dict[str, Any]:
    """For the clients of the Sentinels. Their ``retry`` is set to none by the caller: redis-py's
    default for a ``Redis(host, port)`` retries a failed connection 10 times with backoff (about
    3 s, holding the event loop in the blocking client) before the next Sentinel is tried."""
    kwargs: dict[str, Any] = {"socket_connect_timeout": connect_timeout_s, "socket_timeout": timeout_s,
                              **_tls_kwargs(target)}
    if target.sentinel_username:
        kwargs["username"] = target.sentinel_username
    if target.sentinel_password:
        kwargs["password"] = target.sentinel_password
    return kwargs


def _node_kwargs(target: SentinelTarget, connect_timeout_s: float, timeout_s: float) -> dict[str, Any]:
    return {"db": target.db, "username": target.username, "password": target.password, "decode_responses": True,
            "socket_connect_timeout": connect_timeout_s, "socket_timeout": timeout_s, **_tls_kwargs(target)}


class _AsyncSentinelRedis(aioredis.Redis):
    """The primary's asyncio client; closing it closes its Sentinel connections too."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        try:
            await super().aclose(close_connection_pool)
        finally:
            manager = getattr(self.connection_pool, "sentinel_manager", None)
            if manager is not None:
                await manager.aclose()


class _SentinelRedis(redis.Redis):
    """The primary's blocking client; closing it closes its Sentinel connections too."""

    def close(self) -> None:
        try:
            super().close()
        finally:
            manager = getattr(getattr(self, "connection_pool", None), "sentinel_manager", None)
            if manager is not None:
                manager.close()


def parse_sentinel_url(url: str) -> SentinelTarget:
    """``url`` (see the module for the form) parsed; :class:`ValueError` if it is not one."""
    scheme, sep, rest = url.partition("://")
    secrets: list[str] = []

    def fail(problem: str, hint: str = "") -> ValueError:
        message = f"bad Redis Sentinel URL: {problem}; expected {SENTINEL_URL_FORM}{hint}"
        for secret in sorted(secrets, key=len, reverse=True):  # belt and braces: never show one
            if len(secret) >= 2:
                message = message.replace(secret, "***")
        return ValueError(message)

    if not sep or scheme.lower() != SENTINEL_SCHEME:
        raise fail(f"the scheme is not {SENTINEL_SCHEME}://")
    rest, hash_, _ = rest.partition("#")
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    path, _, query = tail.partition("?")
    userinfo, at, hostlist = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    secrets += [password, unquote(password)] if colon else []
    for field in query.split("&"):
        name, _, value = field.partition("=")
        if "password" in name:
            secrets += [value, unquote(value)]
    # the pieces named in the messages below cannot hold a password: one with an unencoded '/',
    # '?' or '#' (and so the rest of it after the hosts) is refused first, without quoting any
    encode = " (percent-encode '/', '?', '#', '@' and '&' in a password: %2F, %3F, %23, %40, %26)"
    if hash_:
        raise fail("a '#' (a fragment, or an unencoded '#' in a password)", encode)
    if "@" in tail:
        raise fail("an '@' after the hosts", encode)

    hosts = hostlist.split(",")
    sentinels = tuple(_sentinel_address(entry, n, len(hosts), fail) for n, entry in enumerate(hosts, 1))

    segments = path[1:].split("/") if path else []
    if not segments or not segments[0]:
        raise fail("no service name (the Sentinel's `sentinel monitor` name) after the hosts")
    if len(segments) > 2 and not (len(segments) == 3 and segments[2] == ""):
        raise fail(f"too many path segments in {path!r}: only /SERVICE or /SERVICE/DB")
    service = unquote(segments[0])
    db = 0
    if len(segments) > 1 and segments[1]:
        if not segments[1].isdigit() or not segments[1].isascii():
            raise fail(f"the database {segments[1]!r} is not a number")
        db = int(segments[1])

    options: dict[str, str] = {}
    for field in query.split("&"):
        if not field:
            continue
        name, eq, value = field.partition("=")
        if not eq:  # not quoted: it may be the rest of a password with an unencoded '&'
            raise fail("an option without a value (write option=value)", encode)
        if name not in _OPTIONS:
            raise fail(f"unknown option {name!r} (options: {', '.join(_OPTIONS)})")
        if name in options:
            raise fail(f"option {name!r} given twice")
        options[name] = unquote(value)
    ssl = False
    if "ssl" in options:
        flag = options["ssl"].lower()
        if flag not in _TRUE + _FALSE:
            raise fail(f"ssl={options['ssl']!r} is neither true nor false")
        ssl = flag in _TRUE
    if options.get("ssl_ca_certs") and not ssl:
        raise fail("ssl_ca_certs without ssl=true")
    return SentinelTarget(sentinels=sentinels, service=service, db=db, username=unquote(user) or None,
                          password=unquote(password) or None,
                          sentinel_username=options.get("sentinel_username") or None,
                          sentinel_password=options.get("sentinel_password") or None, ssl=ssl,
                          ssl_ca_certs=options.get("ssl_ca_certs") or None)


def _sentinel_address(entry: str, n: int, count: int, fail: Callable[[str], ValueError]) -> tuple[str, int]:
    which = f"sentinel host {n} of {count}" if count > 1 else "the sentinel host"
    if not entry:
        raise fail(f"{which} is empty" if count > 1 else "no sentinel host")
    if entry.startswith("["):
        close = entry.find("]")
        host, after = entry[1:close], entry[close + 1:]
        if close < 0 or not _IPV6.fullmatch(host) or (after and not after.startswith(":")):
            raise fail(f"{which} {entry!r} is not [IPv6]:PORT")
        port = after[1:] if after else None
    else:
        host, colon, port_text = entry.partition(":")
        port = port_text if colon else None
        if not _HOSTNAME.fullmatch(host) or ":" in port_text:
            raise fail(f"{which} {entry!r} is not HOST:PORT (an IPv6 address goes in brackets)")
    if port is None:
        return host, DEFAULT_SENTINEL_PORT
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise fail(f"the port of {which} {entry!r} is not a number from 1 to 65535")
    return host, int(port)
