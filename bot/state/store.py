"""The Redis store: targets, positions, working orders, fills, heartbeats and the kill switches.

Every key lives under the configured prefix (see :mod:`bot.state.keys`). Sizes and prices are
stored as decimal strings, so nothing is rounded on the way through Redis. One process owns an
instrument's keys at a time; a fill and the position it moves are written in one transaction.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import time
from decimal import Decimal
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import hiredis
import redis
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError

from bot.core.codec import decode, encode
from bot.core.pnl import PnlBook
from bot.core.policies import TargetDecision
from bot.core.types import Fill, Order
from bot.errors import ConfigError, ExitCode, ScalebotError
from bot.log import get_logger
from bot.core.planner import Urgency
from bot.state.base import Fenced, KillSwitch, PositionRecord, SavedTarget
from bot.state.connect import redis_clients
from bot.state.keys import Keys, redact_url

T = TypeVar("T")

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

_KILL_SWITCH = """
local first = 1
if ARGV[1] == '1' then
  if ARGV[2] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[2] then
    return redis.error_reply('FENCED stale lease token')
  end
  first = 2
end
for i = first, #KEYS do
  local switch = redis.call('HGETALL', KEYS[i])
  if #switch > 0 then return {i - first + 1, switch} end
end
return {0, {}}
"""
"""The kill switch hashes (KEYS, widest first; with ARGV[1] '1', after the fence KEYS[1], checked
against our token ARGV[2] as in ``_FENCED_WRITE``): the first engaged one (its index among the
switches and fields)."""

_PLACE = """
local scope, switch = 0, {}
if #KEYS >= 5 and redis.call('EXISTS', unpack(KEYS, 5)) > 0 then  -- a switch engaged (rare): the widest
  for i = 5, #KEYS do
    switch = redis.call('HGETALL', KEYS[i])
    if #switch > 0 then scope = i - 4; break end
  end
end
if scope > 0 then
  local action = 'cancel'
  for j = 1, #switch, 2 do if switch[j] == 'action' then action = switch[j + 1] end end
  if not (action == 'flatten' and ARGV[2] == '1') then return {0, scope, switch} end
end
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED stale lease token')
end
local seq = redis.call('INCR', KEYS[2])
if seq <= tonumber(ARGV[3]) then
  seq = tonumber(ARGV[3]) + 1
  redis.call('SET', KEYS[2], seq)
end
local cid = ARGV[4] .. seq
local record = ARGV[5] .. cid .. ARGV[6]
redis.call('HSET', KEYS[3], cid, record)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', 'order', record, 'token', ARGV[1])
return {seq, scope, switch}
"""
"""A new order's intent, in one round trip and atomically: the first engaged kill switch among
KEYS[5..] (widest first) refuses it, unless that switch flattens and the order reduces the
position (ARGV[2] '1'); then the fence (KEYS[1], as in ``_FENCED_WRITE``); then the next client
order id (KEYS[2] the sequence, never at or below ARGV[3], the highest this process used; ARGV[4]
the id before the sequence) and the intent: the order's JSON (ARGV[5] .. id .. ARGV[6]) into the
working set (KEYS[3]) and the journal (KEYS[4], MAXLEN ~ ARGV[7]). Returns ``{seq, scope, switch}``:
seq 0 when refused, scope the index of the switch found (0 none) and its fields."""

_RECORD_FILL = """
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then return 0 end
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED stale lease token')
end
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', 100000, '*', 'fill', ARGV[3])
redis.call('HSET', KEYS[4], unpack(ARGV, 4))
return 1
"""
"""A fill: 0, writing nothing, if its trade id (ARGV[2]) is among those recorded (KEYS[2]);
else, fenced like ``_FENCED_WRITE`` (KEYS[1], ARGV[1]), its id, the fill into the fills stream
(KEYS[3], ARGV[3] its JSON) and the position it produced (KEYS[4], fields and values from
ARGV[4]), then 1."""


class StoreUnavailable(ScalebotError):
    """Redis cannot be reached; no new order may be journalled, so none may be sent."""

    exit_code = ExitCode.REDIS_UNAVAILABLE


JOURNAL_MAXLEN = 1_000_000
"""Journal entries kept per instrument (approximately); older ones are trimmed."""
BLOCKING_TIMEOUT_S = 0.1
"""How long a new order's intent may hold the event loop waiting for Redis, per step (a connect,
each Sentinel asked, a reply), unless the store is given another (``redis.intent_timeout_ms``)."""
BLOCKING_RETRY_S = 1.0
BLOCKING_RETRY_MAX_S = 60.0
"""After the blocking connection failed, intents take the pipelined way; a PING on it after
BLOCKING_RETRY_S, doubled after each failure in a row up to BLOCKING_RETRY_MAX_S, decides when
they go at once again (a Redis too far away for the blocking way costs a probe that often)."""


class RedisStore:
    def __init__(self, url: str, prefix: str, blocking_timeout_s: float = BLOCKING_TIMEOUT_S):
        """``blocking_timeout_s``: the most a call sent at once may hold the loop per step (see
        :meth:`_Writer.call_now`); 0 sends every call pipelined."""
        self.url = url
        self.keys = Keys(prefix)
        try:
            self._redis, blocking = redis_clients(url, connect_timeout_s=2, timeout_s=5,
                                                  blocking_timeout_s=blocking_timeout_s or BLOCKING_TIMEOUT_S)
        except ValueError as exc:  # the message names the part that is wrong, never a password
            raise ConfigError(f"redis.url (or $SCALEBOT_REDIS_URL): {exc}") from None
        self._tokens: dict[str, str] = {}
        self._last_seq: dict[str, int] = {}
        self._writer = _Writer(self._redis, blocking, at_once=blocking_timeout_s > 0)
        """Every write of an instrument's keys and every kill-switch read goes through it: one
        pipeline at a time, in the order they were made (pooled connections could land them out
        of order, an older position over a newer one); only an intent or a kill-switch read sent
        at once may pass the queued writes (:meth:`_Writer.call_now`)."""
        self._run = _base36(time.time_ns() // 1_000_000)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)

    async def close(self) -> None:
        try:
            await self.flush()
            await self._redis.aclose()
        finally:
            self._writer.close()

    async def flush(self) -> None:
        """Wait until every write made so far has been answered (the queued ones too)."""
        await self._writer.flush()

    async def probe(self) -> None:
        """One PING: raises the client's error when Redis does not answer (the daemon's watch)."""
        await self._redis.ping()

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
        await self._write(symbol, self._target_ops(symbol, decision, policy, ts))

    def queue_target(self, symbol: str, decision: TargetDecision, policy: str, ts: float,
                     failed: Callable[[BaseException], None]) -> None:
        """:meth:`save_target` without waiting, in order with the instrument's other writes;
        ``failed`` gets the error (:class:`Fenced` when the lease is lost)."""
        self._writer.submit(_Call("write", symbol, [self.keys.fence(symbol)], [], self._tokens.get(symbol, ""),
                                  ops=self._target_ops(symbol, decision, policy, ts), failed=failed))

    def _target_ops(self, symbol: str, decision: TargetDecision, policy: str, ts: float) -> list[tuple[Any, ...]]:
        fields = {"target": str(decision.target), "unit": decision.unit, "policy": policy,
                  "rationale": decision.rationale, "ts": repr(ts),
                  "urgency": json.dumps(encode(decision.urgency)) if decision.urgency is not None else ""}
        return [("HSET", self.keys.target(symbol), *_flat(fields))]

    async def load_target(self, symbol: str) -> SavedTarget | None:
        await self.flush()
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

    def place_intent(self, order: Order, scopes: tuple[str, ...], reducing: bool,
                     at_once: bool = True) -> Awaitable[tuple[str | None, KillSwitch | None]]:
        """Journal a new order's intent in one round trip, or refuse it: the first engaged kill
        switch among ``scopes`` (widest first) refuses it unless that switch flattens and the
        order is ``reducing``; a stale lease token raises :class:`Fenced`. Otherwise the order,
        with a new client order id (as :meth:`next_client_order_id`), goes into the working set
        and the journal. Returns that id (``None`` when refused) and the switch found, if any.
        ``order.client_order_id`` is ignored. With ``at_once``, sent at once and answered before
        this returns when it can be (see :meth:`_Writer.ask`): awaiting the answer then does not
        yield to the loop; else it goes with the next pipeline (a busy process batches)."""
        symbol = order.symbol
        keys = self.keys
        token = self._tokens.get(symbol, "")
        head, tail = _order_json_around_id(order)
        call = _Call("place", symbol,
                     [keys.fence(symbol), keys.order_seq(symbol), keys.orders(symbol), keys.journal(symbol),
                      *(keys.kill(s) for s in scopes)],
                     [token, "1" if reducing else "0", str(self._last_seq.get(symbol, 0)),
                      f"{keys.instrument_tag(symbol)}-{self._run}-", head, tail, str(JOURNAL_MAXLEN)], token)
        return _then(self._writer.ask(call, at_once), lambda reply: self._placed(symbol, scopes, reply))

    def _placed(self, symbol: str, scopes: tuple[str, ...], reply: Any) -> tuple[str | None, KillSwitch | None]:
        seq, scope, fields = reply
        switch = _kill_switch(scopes[scope - 1], fields) if scope else None
        if not seq:
            return None, switch
        self._last_seq[symbol] = max(int(seq), self._last_seq.get(symbol, 0))
        return f"{self.keys.instrument_tag(symbol)}-{self._run}-{seq}", switch

    async def save_order(self, order: Order) -> None:
        """Journal an order (its intent before it is sent, then each change); a terminal order
        leaves the working set."""
        await self._write(order.symbol, self._order_ops(order))

    def queue_order(self, order: Order, failed: Callable[[BaseException], None] | None = None) -> None:
        """Journal an order's change without waiting for Redis (for changes after the venue's
        answer): it goes out with the next pipeline, after every earlier write of the
        instrument and before every later one; a failure goes to ``failed``, else is logged
        (``journal.write_failed``)."""
        symbol = order.symbol
        token = self._tokens.get(symbol, "")
        self._writer.submit(_Call("write", symbol, [self.keys.fence(symbol)], [], token,
                                  ops=self._order_ops(order), what=order.client_order_id, failed=failed))

    def _order_ops(self, order: Order) -> list[tuple[Any, ...]]:
        key = self.keys.orders(order.symbol)
        record = _order_json(order)
        working = ("HSET", key, order.client_order_id, record) if order.status.is_live else \
            ("HDEL", key, order.client_order_id)
        journal = ("XADD", self.keys.journal(order.symbol), "MAXLEN", "~", JOURNAL_MAXLEN, "*",
                   "order", record, "token", self._tokens.get(order.symbol, ""))
        return [working, journal]

    async def journal(self, symbol: str, count: int = 1000) -> list[Order]:
        """The journal's most recent entries for ``symbol``, oldest first."""
        await self.flush()
        entries = await self._redis.xrevrange(self.keys.journal(symbol), count=count)
        return [decode(Order, json.loads(fields["order"])) for _, fields in reversed(entries)]

    async def load_orders(self, symbol: str) -> list[Order]:
        await self.flush()
        raw = await self._redis.hgetall(self.keys.orders(symbol))
        return [decode(Order, json.loads(v)) for v in raw.values()]

    # fills and positions ---------------------------------------------------------------------
    async def load_position(self, symbol: str) -> PositionRecord:
        await self.flush()
        raw = await self._redis.hgetall(self.keys.position(symbol))
        if not raw:
            return PositionRecord()
        pnl = decode(PnlBook, json.loads(raw["pnl"])) if "pnl" in raw else PnlBook()
        return PositionRecord(Decimal(raw["size"]), float(raw["last_fill_ts"]), Decimal(raw.get("fees", "0")), pnl)

    async def record_fill(self, fill: Fill, position: PositionRecord) -> bool:
        """Append ``fill`` to the fills stream and store the position it produced, atomically,
        unless its trade id is already recorded: returns False then (nothing is written)."""
        return bool(await self._writer.ask(self._fill_call(fill, position), at_once=False))

    def queue_fill(self, fill: Fill, position: PositionRecord,
                   failed: Callable[[BaseException], None] | None = None) -> None:
        """:meth:`record_fill` without waiting for Redis, in order with the instrument's other
        writes; ``failed`` is called with the error if it fails."""
        call = self._fill_call(fill, position)
        call.what, call.failed = fill.trade_id, failed
        self._writer.submit(call)

    def _fill_call(self, fill: Fill, position: PositionRecord) -> _Call:
        symbol = fill.symbol
        keys = self.keys
        token = self._tokens.get(symbol, "")
        return _Call("fill", symbol,
                     [keys.fence(symbol), keys.fill_ids(symbol), keys.fills(symbol), keys.position(symbol)],
                     [token, fill.trade_id, json.dumps(encode(fill)), *_flat(_position_fields(position))], token)

    async def save_position(self, symbol: str, position: PositionRecord) -> None:
        await self._write(symbol, [("HSET", self.keys.position(symbol), *_flat(_position_fields(position)))])

    # ownership: leases and fencing -----------------------------------------------------------
    async def _write(self, symbol: str, ops: list[tuple[Any, ...]]) -> None:
        """Run ``ops`` (command, key, args…) atomically, refused with :class:`Fenced` when this
        process holds a lease token for ``symbol`` that is no longer the current one; in order
        with every other write of the instrument."""
        token = self._tokens.get(symbol, "")
        await self._writer.ask(_Call("write", symbol, [self.keys.fence(symbol)], [], token, ops=ops), at_once=False)

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
        await self.flush()  # the writes made as the owner go out as the owner's
        value = f"{owner}|{self._tokens.pop(symbol, '')}"
        await self._release(keys=[self.keys.lease(symbol)], args=[value])

    async def lease_owner(self, symbol: str) -> str | None:
        return await self._redis.get(self.keys.lease(symbol))

    async def last_fill(self, symbol: str) -> Fill | None:
        await self.flush()
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

    def kill_switch(self, scopes: tuple[str, ...], at_once: bool = True,
                    fenced_for: str | None = None) -> Awaitable[KillSwitch | None]:
        """The first engaged switch among ``scopes``, or ``None``. One script call, sent at once
        when it can be (as :meth:`place_intent`), else with the other pending writes and reads.
        With ``fenced_for`` (a symbol), a stale lease token on it raises :class:`Fenced` (the read
        before a reprice: a stale owner moves no order)."""
        kills = [self.keys.kill(s) for s in scopes]
        if fenced_for is None:
            call = _Call("kill", "", kills, ["0"])
        else:
            token = self._tokens.get(fenced_for, "")
            call = _Call("kill", fenced_for, [self.keys.fence(fenced_for), *kills], ["1", token], token)
        return _then(self._writer.ask(call, at_once), lambda r: _kill_switch(scopes[r[0] - 1], r[1]) if r[0] else None)

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
        await self.flush()
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


def _order_json(o: Order) -> str:
    return json.dumps(encode(o))


_NO_CID = '{"client_order_id": ""'


def _order_json_around_id(order: Order) -> tuple[str, str]:
    """The order's JSON before and after its client order id (which the place script fills in)."""
    fields = encode(order)
    fields["client_order_id"] = ""  # the first field: the JSON starts with it
    text = json.dumps(fields)
    assert text.startswith(_NO_CID)
    return _NO_CID[:-1], text[len(_NO_CID) - 1:]


def _kill_switch(scope: str, fields: list[str]) -> KillSwitch:
    raw = dict(zip(fields[::2], fields[1::2]))
    return KillSwitch(scope, raw.get("reason", ""), raw.get("by", ""), float(raw.get("ts", 0)),
                      raw.get("action", "cancel"))


_SCRIPTS = {"write": _FENCED_WRITE, "place": _PLACE, "fill": _RECORD_FILL, "kill": _KILL_SWITCH}
_SHAS = {kind: hashlib.sha1(body.encode()).hexdigest() for kind, body in _SCRIPTS.items()}


@dataclasses.dataclass(slots=True, eq=False)
class _Call:
    """One script call for the writer. ``kind`` names the script; a ``write`` runs ``ops``
    (command, key, args…) under the fence (``keys`` = [the fence]) and shares one script call
    with the instrument's neighbouring writes made under the same ``token``. Nobody waits for a
    call without a ``future``: its failure goes to ``failed``, or is logged with ``what`` (a
    client order id or trade id)."""

    kind: str
    symbol: str
    keys: list[str]
    args: list[str]
    token: str = ""
    ops: list[tuple[Any, ...]] | None = None
    what: str | None = None
    future: asyncio.Future[Any] | None = None
    failed: Callable[[BaseException], None] | None = None


@dataclasses.dataclass(slots=True, eq=False)
class _Wire:
    """One EVALSHA in a pipeline: a call, or several writes of one instrument merged."""

    kind: str
    symbol: str
    token: str
    keys: list[str]
    args: list[str]
    calls: list[_Call]
    ops: list[tuple[Any, ...]]


class _Writer:
    """Sends the store's script calls (journal writes, intents, fills, kill-switch reads) as
    pipelines: everything asked for during one turn of the event loop goes out in one, so the
    engines' calls share round trips, and each instrument's writes reach Redis in the order they
    were made: pipelines go through redis-py's pool, each on a connection of its own, so an
    instrument's calls wait until its previous ones are answered. An intent or a kill-switch read
    may instead go at once on a blocking connection (:meth:`call_now`)."""

    MAX_PIPELINES = 8
    """Pipelines out at once through redis-py's pool (each holds a connection)."""

    def __init__(self, client: aioredis.Redis, blocking: redis.Redis, at_once: bool = True):
        self._redis = client
        self._blocking = blocking
        """A client of its own for :meth:`call_now` (redis-py's blocking client)."""
        self._connection: redis.connection.AbstractConnection | None = None
        """Its connection, checked out while it works (:meth:`_execute_blocking`)."""
        self._at_once = at_once
        """False: every call is pipelined (``redis.intent_timeout_ms: 0``)."""
        self._resting: asyncio.TimerHandle | None = None
        """Set while the blocking connection rests after a failure: calls go pipelined until the
        probe it will run (:meth:`_probe`) is answered."""
        self._blocking_failures = 0
        self._queue: list[_Call] = []
        self._busy: dict[str, int] = {}
        """Instruments with calls in a pipeline that is out, and how many."""
        self._pipelines: set[asyncio.Task[None]] = set()
        self._pump_due = False

    def submit(self, call: _Call) -> None:
        self._queue.append(call)
        self._schedule()

    def ask(self, call: _Call, at_once: bool = True) -> asyncio.Future[Any]:
        """The future of ``call``'s reply (its error a stale lease token as :class:`Fenced`):
        already resolved when it could go at once (:meth:`call_now`, only ``at_once``), else
        resolved when its pipeline is answered."""
        future = asyncio.get_running_loop().create_future()
        try:
            sent, reply = self.call_now(call) if at_once and self._at_once else (False, None)
        except Exception as exc:
            future.set_exception(exc)
            return future
        if sent:
            future.set_result(reply)
            return future
        call.future = future
        self.submit(call)
        return future

    def call_now(self, call: _Call) -> tuple[bool, Any]:
        """Send ``call`` alone, at once, over the blocking connection, and wait for its reply
        holding the event loop (one loopback round trip; the store's blocking timeout at most per
        step: connecting, asking each Sentinel, the reply): a new order's intent or a kill-switch
        read does not wait behind the loop's other work.
        It may pass the instrument's queued writes: it touches no key they write (the intent's
        keys are the new order's and the id sequence; its journal entry may land between theirs).
        ``(True, reply)``, its error raised; ``(False, None)`` while the blocking connection is
        resting after a failure: then it goes pipelined."""
        if self._resting is not None:
            return False, None
        (wire,) = _merge([call])
        try:
            result = self._execute_blocking(wire)
            if isinstance(result, NoScriptError):  # Redis restarted or flushed its scripts
                for body in _SCRIPTS.values():
                    self._blocking.script_load(body)
                result = self._execute_blocking(wire)
        except Exception as exc:
            self._rest(exc)
            raise exc from None
        outcome = _outcome(call, result)
        if isinstance(outcome, BaseException):
            raise outcome
        return True, outcome

    def _rest(self, error: BaseException | str) -> None:
        """The blocking connection failed: calls go pipelined, and after a rest (BLOCKING_RETRY_S,
        doubled after each failure in a row up to BLOCKING_RETRY_MAX_S) a PING on it decides
        whether they may go at once again: no call is spent finding out."""
        self._blocking_failures += 1
        rest = min(BLOCKING_RETRY_MAX_S, BLOCKING_RETRY_S * 2 ** (self._blocking_failures - 1))
        self._resting = asyncio.get_running_loop().call_later(rest, self._probe)
        get_logger().warning("redis.blocking_resting", rest_s=rest, failures=self._blocking_failures,
                             error=error if isinstance(error, str) else type(error).__name__)

    def _probe(self) -> None:
        """One PING on the blocking connection (holding the loop as a call at once would, the
        store's blocking timeout at most per step): a PONG and calls go at once again; anything
        else (an error, an error reply) and a longer rest."""
        try:
            reply = self._command("PING")
        except Exception as exc:
            self._rest(exc)
            return
        if reply != "PONG":
            self._rest(f"PING answered {str(reply)[:80]!r}")
            return
        self._resting = None
        get_logger().info("redis.blocking_restored", failures=self._blocking_failures)
        self._blocking_failures = 0

    def _execute_blocking(self, wire: _Wire) -> Any:
        """``wire``'s EVALSHA on the blocking connection (:meth:`_command`)."""
        return self._command("EVALSHA", _SHAS[wire.kind], len(wire.keys), *wire.keys, *wire.args)

    def _command(self, *args: Any) -> Any:
        """One command (str, int or bytes arguments, packed by hiredis as redis-py would, minus
        its per-argument encoder) on the blocking client's connection, kept checked out of its
        pool between calls (no pool or pipeline bookkeeping per intent, no retry: a reply lost is
        an intent refused); a connection the server closed while idle is opened again first. An
        error reply is returned, any other failure raised with the connection dropped."""
        pool = self._blocking.connection_pool
        if self._connection is None:
            self._connection = pool.get_connection()  # connected and checked
        elif _closed(self._connection):  # by the server while idle (a restart): connect again
            self._connection.disconnect()
        connection = self._connection
        try:
            connection.send_packed_command([hiredis.pack_command(args)], check_health=False)
            return connection.read_response()
        except ResponseError as exc:
            return exc
        except BaseException:
            self._connection = None
            connection.disconnect()
            pool.release(connection)
            raise

    def close(self) -> None:
        if self._resting is not None:
            self._resting.cancel()
        if self._connection is not None:
            self._blocking.connection_pool.release(self._connection)
            self._connection = None
        self._blocking.close()

    async def flush(self) -> None:
        """Until every call submitted so far (and since) is answered; a cancelled caller does
        not cancel the pipelines."""
        while self._queue or self._pipelines:
            if self._pipelines:
                await asyncio.wait(list(self._pipelines))
            else:
                await asyncio.sleep(0)  # the pump is due

    def _schedule(self) -> None:
        if not self._pump_due:
            self._pump_due = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _pump(self) -> None:
        """Send what may go: calls of instruments with nothing out, in order (once one call of
        an instrument waits, its later ones wait too)."""
        self._pump_due = False
        if not self._queue or len(self._pipelines) >= self.MAX_PIPELINES:
            return
        batch: list[_Call] = []
        held: list[_Call] = []
        waiting: set[str] = set()
        for call in self._queue:
            if call.symbol and (call.symbol in self._busy or call.symbol in waiting):
                held.append(call)
                waiting.add(call.symbol)
            elif call.future is None or not call.future.cancelled():
                # a call whose caller is gone (cancelled) before it went out is dropped, as an
                # awaited command would not have been sent: an intent nobody sends is not journalled
                batch.append(call)
        self._queue = held
        if not batch:
            return
        for call in batch:
            if call.symbol:
                self._busy[call.symbol] = self._busy.get(call.symbol, 0) + 1
        task = asyncio.get_running_loop().create_task(self._send(batch), name="store-writer")
        self._pipelines.add(task)
        task.add_done_callback(lambda done: self._sent(done, batch))

    def _sent(self, task: asyncio.Task[None], batch: list[_Call]) -> None:
        self._pipelines.discard(task)
        for call in batch:
            if call.symbol:
                left = self._busy[call.symbol] - 1
                if left:
                    self._busy[call.symbol] = left
                else:
                    del self._busy[call.symbol]
        if self._queue:
            self._schedule()

    async def _send(self, batch: list[_Call]) -> None:
        wire = _merge(batch)
        try:
            results = await self._execute(wire)
            if all(isinstance(r, NoScriptError) for r in results):  # Redis restarted or flushed its scripts
                for body in _SCRIPTS.values():
                    await self._redis.script_load(body)
                results = await self._execute(wire)
        except Exception as exc:
            results = [exc] * len(wire)
        except BaseException:
            for w in wire:
                for call in w.calls:
                    _settle(call, RedisConnectionError("the store's writer was stopped"))
            raise
        for w, result in zip(wire, results):
            for call in w.calls:
                _settle(call, result)

    async def _execute(self, wire: list[_Wire]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for w in wire:
            pipe.execute_command("EVALSHA", _SHAS[w.kind], len(w.keys), *w.keys, *w.args)
        return await pipe.execute(raise_on_error=False)


def _closed(connection: redis.connection.AbstractConnection) -> bool:
    """Whether an idle connection has something to read (the server closed it, or it fails)."""
    try:
        return connection.can_read()
    except (RedisError, OSError):
        return True


def _merge(batch: list[_Call]) -> list[_Wire]:
    """The batch as script calls, in order; an instrument's writes under one token that follow
    each other (whatever other instruments did in between) become one call."""
    wire: list[_Wire] = []
    latest: dict[str, _Wire] = {}
    for call in batch:
        last = latest.get(call.symbol) if call.symbol else None
        if call.kind == "write" and last is not None and last.kind == "write" and last.token == call.token:
            last.calls.append(call)
            last.ops.extend(call.ops or ())
            continue
        w = _Wire(call.kind, call.symbol, call.token, call.keys, call.args, [call], list(call.ops or ()))
        wire.append(w)
        if call.symbol:
            latest[call.symbol] = w
    for w in wire:
        if w.kind == "write":
            w.keys, w.args = _fenced_args(w.keys[0], w.token, w.ops)
    return wire


def _fenced_args(fence: str, token: str, ops: list[tuple[Any, ...]]) -> tuple[list[str], list[str]]:
    """KEYS and ARGV of ``_FENCED_WRITE`` for ``ops`` (command, key, args…)."""
    keys = [fence]
    index = {fence: 1}
    encoded = []
    for command, key, *args in ops:
        if key not in index:
            keys.append(key)
            index[key] = len(keys)
        encoded.append([command, index[key], *(str(a) for a in args)])
    return keys, [token, json.dumps(encoded)]


def _then(reply: asyncio.Future[Any], make: Callable[[Any], T]) -> Awaitable[T]:
    """``make(reply)`` as an awaitable: a resolved future if ``reply`` is (awaiting it does not
    yield to the loop), else a coroutine that waits for it."""
    if not reply.done():
        async def later() -> T:
            return make(await reply)
        return later()
    out: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    try:
        out.set_result(make(reply.result()))
    except Exception as exc:
        out.set_exception(exc)
    return out


def _outcome(call: _Call, result: Any) -> Any:
    """The reply, or the error (a stale lease token as :class:`Fenced`)."""
    if isinstance(result, ResponseError) and "FENCED" in str(result):
        return Fenced(f"{call.symbol}: lease token {call.token or None} is stale; another instance owns it")
    return result


def _settle(call: _Call, result: Any) -> None:
    result = _outcome(call, result)
    if isinstance(result, BaseException):
        if call.failed is not None:
            call.failed(result)
        elif call.future is None:
            get_logger(instrument=call.symbol).error("journal.write_failed", what=call.what,
                                                     error=type(result).__name__)
        elif not call.future.done():
            call.future.set_exception(result)
    elif call.future is not None and not call.future.done():
        call.future.set_result(result)
