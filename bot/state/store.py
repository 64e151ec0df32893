"""The Redis store: targets, positions, working orders, fills, heartbeats and the kill switches.

Every key lives under the configured prefix (see :mod:`bot.state.keys`). Sizes and prices are
stored as decimal strings, so nothing is rounded on the way through Redis. One process owns an
instrument's keys at a time; a fill and the position it moves are written in one transaction.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from decimal import Decimal
from typing import Any, AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from bot.core.codec import decode, encode
from bot.core.pnl import PnlBook
from bot.core.policies import TargetDecision
from bot.core.types import Fill, Order
from bot.errors import ExitCode, ScalebotError
from bot.core.planner import Urgency
from bot.state.base import Fenced, KillSwitch, PositionRecord, SavedTarget
from bot.state.keys import Keys, redact_url

START_HINT = "start one with `redis-server --daemonize yes`, or point SCALEBOT_REDIS_URL (or redis.url) at one"


_FENCED_WRITE = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED stale lease token')
end
for _, op in ipairs(cjson.decode(ARGV[2])) do
  local args = {op[1], KEYS[op[2]]}
  for i = 3, #op do args[#args + 1] = op[i] end
  redis.call(unpack(args))
end
return 1
"""
"""KEYS[1] the fence (current token); ARGV[1] our token ('' = no lease in use), ARGV[2] the
operations as JSON [[command, key index, args...], ...]: all or nothing, only for the owner."""

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return nil end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
redis.call('SET', KEYS[3], token)
return token
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class StoreUnavailable(ScalebotError):
    """Redis cannot be reached; no new order may be journalled, so none may be sent."""

    exit_code = ExitCode.REDIS_UNAVAILABLE


JOURNAL_MAXLEN = 1_000_000
"""Journal entries kept per instrument (approximately); older ones are trimmed."""


class RedisStore:
    def __init__(self, url: str, prefix: str):
        self.url = url
        self.keys = Keys(prefix)
        self._redis = aioredis.from_url(url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5)
        self._tokens: dict[str, str] = {}
        self._last_seq: dict[str, int] = {}
        self._write_locks: dict[str, asyncio.Lock] = {}
        """Concurrent writes go out on different pooled connections and could land out of order
        (an older position over a newer one); per instrument they are sent one at a time."""
        self._run = _base36(time.time_ns() // 1_000_000)
        self._fenced = self._redis.register_script(_FENCED_WRITE)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)

    async def close(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` with the URL and how to start a Redis if none answers."""
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"cannot reach Redis at {redact_url(self.url)} ({exc}); {START_HINT}") from None

    # instruments, targets, heartbeats ------------------------------------------------------------
    async def register_instruments(self, symbols: list[str]) -> None:
        await self._redis.sadd(self.keys.instruments, *symbols)

    async def instruments(self) -> list[str]:
        return sorted(await self._redis.smembers(self.keys.instruments))

    async def save_target(self, symbol: str, decision: TargetDecision, policy: str, ts: float) -> None:
        fields = {"target": str(decision.target), "unit": decision.unit, "policy": policy,
                  "rationale": decision.rationale, "ts": repr(ts),
                  "urgency": json.dumps(encode(decision.urgency)) if decision.urgency is not None else ""}
        await self._write(symbol, [("HSET", self.keys.target(symbol), *_flat(fields))])

    async def load_target(self, symbol: str) -> SavedTarget | None:
        saved = await self._redis.hgetall(self.keys.target(symbol))
        if not saved.get("target"):
            return None
        urgency = saved.get("urgency")
        return SavedTarget(Decimal(saved["target"]), float(saved["ts"]) if saved.get("ts") else None,
                           decode(Urgency, json.loads(urgency)) if urgency else None)

    async def heartbeat_age(self, now: float) -> float | None:
        """Seconds since the daemon's last heartbeat (``None`` if it never beat)."""
        ts = await self._redis.hget(self.keys.heartbeat, "ts")
        return now - float(ts) if ts is not None else None

    async def heartbeat(self, symbols: list[str], ts: float, mode: str) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hset(self.keys.heartbeat, mapping={"ts": repr(ts), "pid": os.getpid(), "mode": mode})
        for symbol in symbols:
            pipe.set(self.keys.instrument_heartbeat(symbol), repr(ts))
        await pipe.execute()

    # orders -----------------------------------------------------------------------------------
    async def next_client_order_id(self, symbol: str) -> str:
        """A client order id never used before under this prefix: ``{tag}-{run}-{seq}``, where
        ``run`` is this process's start (ms, base 36) and ``seq`` a Redis counter that never goes
        back below what this process has used, even if Redis comes back empty."""
        key = self.keys.order_seq(symbol)
        seq = await self._redis.incr(key)
        used = self._last_seq.get(symbol, 0)
        if seq <= used:
            seq = used + 1
            await self._redis.set(key, seq)
        self._last_seq[symbol] = seq
        return f"{self.keys.instrument_tag(symbol)}-{self._run}-{seq}"

    async def save_order(self, order: Order) -> None:
        """Journal an order (its intent before it is sent, then each change); a terminal order
        leaves the working set."""
        key = self.keys.orders(order.symbol)
        record = json.dumps(encode(order))
        working = ("HSET", key, order.client_order_id, record) if order.status.is_live else \
            ("HDEL", key, order.client_order_id)
        journal = ("XADD", self.keys.journal(order.symbol), "MAXLEN", "~", JOURNAL_MAXLEN, "*",
                   "order", record, "token", self._tokens.get(order.symbol, ""))
        await self._write(order.symbol, [working, journal])

    async def journal(self, symbol: str, count: int = 1000) -> list[Order]:
        """The journal's most recent entries for ``symbol``, oldest first."""
        entries = await self._redis.xrevrange(self.keys.journal(symbol), count=count)
        return [decode(Order, json.loads(fields["order"])) for _, fields in reversed(entries)]

    async def load_orders(self, symbol: str) -> list[Order]:
        raw = await self._redis.hgetall(self.keys.orders(symbol))
        return [decode(Order, json.loads(v)) for v in raw.values()]

    # fills and positions ---------------------------------------------------------------------
    async def load_position(self, symbol: str) -> PositionRecord:
        raw = await self._redis.hgetall(self.keys.position(symbol))
        if not raw:
            return PositionRecord()
        pnl = decode(PnlBook, json.loads(raw["pnl"])) if "pnl" in raw else PnlBook()
        return PositionRecord(Decimal(raw["size"]), float(raw["last_fill_ts"]), Decimal(raw.get("fees", "0")), pnl)

    async def known_fill(self, symbol: str, trade_id: str) -> bool:
        return bool(await self._redis.sismember(self.keys.fill_ids(symbol), trade_id))

    async def record_fill(self, fill: Fill, position: PositionRecord) -> None:
        """Append ``fill`` to the fills stream and store the position it produced, atomically."""
        symbol = fill.symbol
        await self._write(symbol, [
            ("SADD", self.keys.fill_ids(symbol), fill.trade_id),
            ("XADD", self.keys.fills(symbol), "MAXLEN", "~", 100_000, "*", "fill", json.dumps(encode(fill))),
            ("HSET", self.keys.position(symbol), *_flat(_position_fields(position))),
        ])

    async def save_position(self, symbol: str, position: PositionRecord) -> None:
        await self._write(symbol, [("HSET", self.keys.position(symbol), *_flat(_position_fields(position)))])

    # ownership: leases and fencing -----------------------------------------------------------
    async def _write(self, symbol: str, ops: list[tuple[Any, ...]]) -> None:
        """Run ``ops`` (command, key, args…) atomically, refused with :class:`Fenced` when this
        process holds a lease token for ``symbol`` that is no longer the current one."""
        keys = [self.keys.fence(symbol)]
        encoded = []
        for command, key, *args in ops:
            if key not in keys:
                keys.append(key)
            encoded.append([command, keys.index(key) + 1, *(str(a) for a in args)])
        lock = self._write_locks.setdefault(symbol, asyncio.Lock())
        try:
            async with lock:  # one instrument's writes reach Redis in the order they were made
                await self._fenced(keys=keys, args=[self._tokens.get(symbol, ""), json.dumps(encoded)])
        except ResponseError as exc:
            if "FENCED" in str(exc):
                raise Fenced(f"{symbol}: lease token {self._tokens.get(symbol)} is stale; another instance owns it")
            raise

    async def acquire_lease(self, symbol: str, owner: str, ttl_ms: int) -> int | None:
        """Own ``symbol`` for ``ttl_ms`` if nobody does; returns the new fencing token (which
        every later write of this process carries) or ``None`` if another owner holds it."""
        token = await self._acquire(keys=[self.keys.lease(symbol), self.keys.lease_seq(symbol),
                                          self.keys.fence(symbol)], args=[owner, ttl_ms])
        if token is None:
            return None
        self._tokens[symbol] = str(token)
        return int(token)

    async def renew_lease(self, symbol: str, owner: str, ttl_ms: int) -> bool:
        """Extend our lease; False when it was lost (expired and taken, or never ours)."""
        value = f"{owner}|{self._tokens.get(symbol, '')}"
        return bool(await self._renew(keys=[self.keys.lease(symbol)], args=[value, ttl_ms]))

    async def release_lease(self, symbol: str, owner: str) -> None:
        value = f"{owner}|{self._tokens.pop(symbol, '')}"
        await self._release(keys=[self.keys.lease(symbol)], args=[value])

    async def lease_owner(self, symbol: str) -> str | None:
        return await self._redis.get(self.keys.lease(symbol))

    async def last_fill(self, symbol: str) -> Fill | None:
        entries = await self._redis.xrevrange(self.keys.fills(symbol), count=1)
        return decode(Fill, json.loads(entries[0][1]["fill"])) if entries else None

    # kill switches ----------------------------------------------------------------------------
    async def engage_kill(self, scope: str, reason: str, by: str, action: str = "cancel") -> None:
        """Engage (or re-engage) a switch; a switch already engaged keeps its first reason."""
        ts = time.time()
        pipe = self._redis.pipeline(transaction=True)
        key = self.keys.kill(scope)
        for name, value in (("reason", reason), ("by", by), ("ts", repr(ts)), ("action", action)):
            pipe.hsetnx(key, name, value)
        self._audit(pipe, "engaged", scope, reason, by, ts)
        await pipe.execute()

    async def lift_kill(self, scope: str, reason: str, by: str) -> None:
        ts = time.time()
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self.keys.kill(scope))
        self._audit(pipe, "lifted", scope, reason, by, ts)
        await pipe.execute()

    def _audit(self, pipe: Any, action: str, scope: str, reason: str, by: str, ts: float) -> None:
        pipe.xadd(self.keys.audit, {"action": f"kill_switch.{action}", "scope": scope, "reason": reason, "by": by,
                                    "ts": repr(ts)})
        pipe.publish(self.keys.kill_channel, json.dumps({"scope": scope, "action": action}))

    async def kill_switch(self, scopes: tuple[str, ...]) -> KillSwitch | None:
        """The first engaged switch among ``scopes``, or ``None``. One round trip."""
        pipe = self._redis.pipeline(transaction=False)
        for scope in scopes:
            pipe.hgetall(self.keys.kill(scope))
        for scope, raw in zip(scopes, await pipe.execute()):
            if raw:
                return KillSwitch(scope, raw.get("reason", ""), raw.get("by", ""), float(raw.get("ts", 0)),
                                  raw.get("action", "cancel"))
        return None

    async def audit(self, count: int = 100) -> list[dict[str, str]]:
        """The most recent kill-switch engagements and lifts, oldest first."""
        return [fields for _, fields in reversed(await self._redis.xrevrange(self.keys.audit, count=count))]

    async def kill_messages(self) -> AsyncIterator[dict[str, Any]]:
        """Kill-switch changes as they are published (pub/sub; callers also poll)."""
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self.keys.kill_channel)
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield json.loads(message["data"])
        finally:
            await pubsub.aclose()

    # simulated venue's account ----------------------------------------------------------------
    async def load_sim_state(self, symbol: str) -> dict | None:
        """The simulated venue's saved account for one instrument."""
        raw = await self._redis.get(self.keys.sim_state(symbol))
        return json.loads(raw) if raw else None

    async def save_sim_state(self, symbol: str, state: dict) -> None:
        await self._redis.set(self.keys.sim_state(symbol), json.dumps(state))

    async def load_paper_account(self) -> dict | None:
        """The paper account of the ccxt venue in paper mode (all its instruments in one)."""
        raw = await self._redis.get(self.keys.paper_account)
        return json.loads(raw) if raw else None

    async def save_paper_account(self, state: dict) -> None:
        await self._redis.set(self.keys.paper_account, json.dumps(state))

    # status -------------------------------------------------------------------------------------
    async def status(self, now: float) -> dict[str, Any]:
        """Everything ``scalebot status`` shows, as plain JSON-ready data."""
        heartbeat = await self._redis.hgetall(self.keys.heartbeat)
        out: dict[str, Any] = {
            "prefix": self.keys.prefix,
            "heartbeat_age_s": round(now - float(heartbeat["ts"]), 3) if heartbeat else None,
            "mode": heartbeat.get("mode"),
            "kill_switch": await self._kill_dict("global"),
            "kill_switches": await self._all_kills(),
            "instruments": {},
        }
        for symbol in await self.instruments():
            target = await self._redis.hgetall(self.keys.target(symbol))
            position = await self.load_position(symbol)
            orders = await self.load_orders(symbol)
            last_fill = await self.last_fill(symbol)
            beat = await self._redis.get(self.keys.instrument_heartbeat(symbol))
            out["instruments"][symbol] = {
                "target": target.get("target"),
                "rationale": target.get("rationale"),
                "position": str(position.size),
                "fees": str(position.fees),
                "working_orders": [
                    {"client_order_id": o.client_order_id, "side": o.side.value, "price": str(o.price),
                     "remaining": str(o.remaining), "status": o.status.value}
                    for o in sorted(orders, key=lambda o: o.created_ts)
                ],
                "last_fill": encode(last_fill) if last_fill else None,
                "kill_switch": await self._kill_dict(symbol),
                "heartbeat_age_s": round(now - float(beat), 3) if beat else None,
            }
        return out

    async def _all_kills(self) -> dict[str, dict[str, str]]:
        """Every engaged switch by scope (global, account:NAME, symbols)."""
        prefix = self.keys.kill("")
        out = {}
        async for key in self._redis.scan_iter(match=f"{prefix}*"):
            scope = key[len(prefix):]
            if scope != "events":
                out[scope] = await self._redis.hgetall(key)
        return out

    async def _kill_dict(self, scope: str) -> dict[str, str] | None:
        raw = await self._redis.hgetall(self.keys.kill(scope))
        return raw or None


def _position_fields(position: PositionRecord) -> dict[str, str]:
    return {"size": str(position.size), "last_fill_ts": repr(position.last_fill_ts), "fees": str(position.fees),
            "pnl": json.dumps(encode(position.pnl))}


def _flat(fields: dict[str, str]) -> list[str]:
    return [item for pair in fields.items() for item in pair]


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"
