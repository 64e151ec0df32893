"""The store's order path (issue 8): a new order's kill-switch check and intent in one script
call, journal writes queued after the venue's answer and kept in order, fills checked and
recorded in one call, every write fenced."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import redis

from bot.core.pnl import PnlBook
from bot.core.types import Fill, Order, OrderStatus, Side
from bot.state.base import PositionRecord, kill_scopes
from bot.state.memory import MemoryStore
from bot.state.store import Fenced, RedisStore

SYMBOL = "BTC-PERP"
SCOPES = kill_scopes(SYMBOL, "default")


def _intent(reason: str = "work difference 1") -> Order:
    return Order("", SYMBOL, Side.BUY, Decimal("100.5"), Decimal("0.25"), OrderStatus.PENDING, 1.5,
                 target=Decimal("1"), reason=reason)


def _fill(trade_id: str) -> Fill:
    return Fill(SYMBOL, trade_id, "c-1", Side.BUY, Decimal("100"), Decimal("0.1"), Decimal("0.001"), "USD", "maker",
                2.0)


async def test_place_intent_journals_the_order_under_a_new_id(redis_url: str, prefix: str) -> None:
    store = RedisStore(redis_url, prefix)
    try:
        first, switch = await store.place_intent(_intent(), SCOPES, reducing=False)
        second, _ = await store.place_intent(_intent('with "quotes" and \\ backslash'), SCOPES, reducing=False)
        assert switch is None and first and second and first != second
        assert first.endswith("-1") and second.endswith("-2")
        orders = {o.client_order_id: o for o in await store.load_orders(SYMBOL)}
        assert orders[first] == Order(first, SYMBOL, Side.BUY, Decimal("100.5"), Decimal("0.25"), OrderStatus.PENDING,
                                      1.5, target=Decimal("1"), reason="work difference 1")
        assert orders[second].reason == 'with "quotes" and \\ backslash'
        assert [o.client_order_id for o in await store.journal(SYMBOL)] == [first, second]
    finally:
        await store.close()


async def test_the_sequence_never_goes_back_below_what_this_process_used(redis_url: str, prefix: str) -> None:
    store = RedisStore(redis_url, prefix)
    try:
        for _ in range(3):
            await store.place_intent(_intent(), SCOPES, reducing=False)
        redis.Redis.from_url(redis_url).delete(store.keys.order_seq(SYMBOL))  # Redis came back empty
        cid, _ = await store.place_intent(_intent(), SCOPES, reducing=False)
        assert cid is not None and cid.endswith("-4")
        assert (await store.next_client_order_id(SYMBOL)).endswith("-5")
    finally:
        await store.close()


@pytest.mark.parametrize("scope", ["global", "account:default", SYMBOL])
async def test_an_engaged_switch_refuses_the_intent(redis_url: str, prefix: str, scope: str) -> None:
    store = RedisStore(redis_url, prefix)
    try:
        await store.engage_kill(scope, "test halt", "test")
        cid, switch = await store.place_intent(_intent(), SCOPES, reducing=True)
        assert cid is None and switch is not None
        assert (switch.scope, switch.reason, switch.by, switch.action) == (scope, "test halt", "test", "cancel")
        assert await store.load_orders(SYMBOL) == [] and await store.journal(SYMBOL) == []
    finally:
        await store.close()


async def test_a_flatten_switch_lets_only_a_reducing_order_through(redis_url: str, prefix: str) -> None:
    store = RedisStore(redis_url, prefix)
    try:
        await store.engage_kill("global", "flatten all", "test", action="flatten")
        cid, switch = await store.place_intent(_intent(), SCOPES, reducing=False)
        assert cid is None and switch is not None and switch.action == "flatten"
        cid, switch = await store.place_intent(_intent(), SCOPES, reducing=True)
        assert cid is not None and switch is not None and switch.scope == "global"
    finally:
        await store.close()


async def test_a_stale_owner_cannot_journal_an_intent(redis_url: str, prefix: str) -> None:
    a, b = RedisStore(redis_url, prefix), RedisStore(redis_url, prefix)
    try:
        assert await a.acquire_lease(SYMBOL, "a", 200) == 1
        await asyncio.sleep(0.3)
        assert await b.acquire_lease(SYMBOL, "b", 10_000) == 2
        with pytest.raises(Fenced):
            await a.place_intent(_intent(), SCOPES, reducing=False)
        with pytest.raises(Fenced):
            await a.record_fill(_fill("t-1"), PositionRecord(Decimal("0.1")))
        assert (await b.place_intent(_intent(), SCOPES, reducing=False))[0] is not None
        assert len(await b.load_orders(SYMBOL)) == 1
        for at_once in (True, False):  # the read before a reprice: a stale owner moves no order
            with pytest.raises(Fenced):
                await a.kill_switch(SCOPES, at_once=at_once, fenced_for=SYMBOL)
            assert await b.kill_switch(SCOPES, at_once=at_once, fenced_for=SYMBOL) is None
        assert await a.kill_switch(SCOPES) is None  # unfenced (the daemon's poll)
    finally:
        await a.close()
        await b.close()


async def test_queued_writes_keep_their_order_and_share_round_trips(redis_url: str, prefix: str) -> None:
    store = RedisStore(redis_url, prefix)
    try:
        cid, _ = await store.place_intent(_intent(), SCOPES, reducing=False)
        assert cid is not None
        order = Order(cid, SYMBOL, Side.BUY, Decimal("100.5"), Decimal("0.25"), OrderStatus.PENDING, 1.5)
        for status in (OrderStatus.OPEN, OrderStatus.CANCEL_PENDING, OrderStatus.CANCELLED):
            store.queue_order(Order(cid, SYMBOL, order.side, order.price, order.size, status, 1.5))
        await store.flush()
        assert [o.status for o in await store.journal(SYMBOL)] == [
            OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.CANCEL_PENDING, OrderStatus.CANCELLED]
        assert await store.load_orders(SYMBOL) == []  # terminal: out of the working set
    finally:
        await store.close()


async def test_a_queued_write_that_fails_is_reported(redis_url: str, prefix: str) -> None:
    a, b = RedisStore(redis_url, prefix), RedisStore(redis_url, prefix)
    try:
        assert await a.acquire_lease(SYMBOL, "a", 200) == 1
        await asyncio.sleep(0.3)
        assert await b.acquire_lease(SYMBOL, "b", 10_000) == 2
        failures: list[BaseException] = []
        a.queue_fill(_fill("t-1"), PositionRecord(Decimal("0.1")), failures.append)
        await a.flush()
        assert len(failures) == 1 and isinstance(failures[0], Fenced)
    finally:
        await a.close()
        await b.close()


async def test_a_fill_is_recorded_once(redis_url: str, prefix: str) -> None:
    store = RedisStore(redis_url, prefix)
    try:
        position = PositionRecord(Decimal("0.1"), 2.0, Decimal("0.001"), PnlBook(avg_entry_price=Decimal("100")))
        assert await store.record_fill(_fill("t-1"), position) is True
        assert await store.record_fill(_fill("t-1"), PositionRecord(Decimal("9"))) is False  # nothing written
        store.queue_fill(_fill("t-2"), PositionRecord(Decimal("0.2"), 3.0))
        assert await store.record_fill(_fill("t-2"), PositionRecord(Decimal("9"))) is False  # the queued one is in
        assert (await store.load_position(SYMBOL)).size == Decimal("0.2")
        assert (await store.last_fill(SYMBOL)) == _fill("t-2")
    finally:
        await store.close()


async def test_the_memory_store_follows_the_same_rules() -> None:
    store = MemoryStore()
    cid, switch = await store.place_intent(_intent(), SCOPES, reducing=False)
    assert cid is not None and switch is None
    await store.engage_kill(SYMBOL, "halt", "test", action="flatten")
    assert (await store.place_intent(_intent(), SCOPES, reducing=False))[0] is None
    assert (await store.place_intent(_intent(), SCOPES, reducing=True))[0] is not None
    assert await store.record_fill(_fill("t-1"), PositionRecord(Decimal("0.1")))
    assert not await store.record_fill(_fill("t-1"), PositionRecord(Decimal("0.1")))


async def test_scripts_are_loaded_again_when_redis_forgot_them(redis_url: str, prefix: str) -> None:
    store = RedisStore(redis_url, prefix)
    try:
        assert (await store.place_intent(_intent(), SCOPES, reducing=False))[0] is not None
        redis.Redis.from_url(redis_url).script_flush()
        assert (await store.place_intent(_intent(), SCOPES, reducing=False))[0] is not None
        assert len(await store.load_orders(SYMBOL)) == 2
    finally:
        await store.close()


async def test_an_intent_is_answered_before_place_intent_returns(redis_url: str, prefix: str) -> None:
    """The intent goes out at once over the blocking connection: awaiting it does not yield to
    the event loop, so nothing else runs between a decision and its order."""
    store = RedisStore(redis_url, prefix)
    try:
        pending = store.place_intent(_intent(), SCOPES, reducing=False)
        assert isinstance(pending, asyncio.Future) and pending.done()
        cid, switch = await pending
        assert cid is not None and switch is None
        assert [o.client_order_id for o in await store.load_orders(SYMBOL)] == [cid]
    finally:
        await store.close()


async def test_after_the_blocking_connection_fails_intents_take_the_pipelined_way(
        redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RedisStore(redis_url, prefix)
    writer = store._writer  # noqa: SLF001

    def broken(wire: object) -> list[object]:
        raise redis.ConnectionError("connection reset")

    try:
        monkeypatch.setattr(writer, "_execute_blocking", broken)
        with pytest.raises(redis.ConnectionError):  # the intent's fate is not known: not sent
            await store.place_intent(_intent(), SCOPES, reducing=False)
        pending = store.place_intent(_intent(), SCOPES, reducing=False)  # resting: pipelined
        assert not (isinstance(pending, asyncio.Future) and pending.done())
        cid, _ = await pending
        assert cid is not None and [o.client_order_id for o in await store.load_orders(SYMBOL)] == [cid]
        assert (await store.kill_switch(SCOPES)) is None
    finally:
        await store.close()


async def test_a_blocking_connection_the_server_closed_while_idle_is_opened_again(
        redis_url: str, prefix: str) -> None:
    """Redis restarted between two intents (here: it closes the blocking connection): the next
    intent still goes at once, on a new connection, and is not refused."""
    store = RedisStore(redis_url, prefix)
    writer = store._writer  # noqa: SLF001
    admin = redis.Redis.from_url(redis_url)
    try:
        first, _ = await store.place_intent(_intent(), SCOPES, reducing=False)
        connection = writer._connection  # noqa: SLF001
        assert first is not None and connection is not None
        connection.send_command("CLIENT", "ID")
        assert admin.client_kill_filter(_id=connection.read_response()) == 1
        await asyncio.sleep(0.05)
        second = store.place_intent(_intent(), SCOPES, reducing=False)
        assert isinstance(second, asyncio.Future) and second.done()  # at once, not pipelined
        cid, _ = await second
        assert cid is not None and writer._blocking_failures == 0  # noqa: SLF001
        assert sorted(o.client_order_id for o in await store.load_orders(SYMBOL)) == sorted([first, cid])
    finally:
        admin.close()
        await store.close()


async def test_after_a_failure_a_probe_not_an_intent_finds_the_blocking_way_back(
        redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The blocking connection fails: intents go pipelined while it rests, a PING on it after each
    rest (1 s, doubled after each failed PING up to 60 s) decides when they go at once again."""
    store = RedisStore(redis_url, prefix)
    writer = store._writer  # noqa: SLF001
    loop = asyncio.get_running_loop()
    real = writer._command  # noqa: SLF001

    def slow(*args: object) -> object:
        raise redis.TimeoutError("slow")

    def rest_s() -> float:
        assert writer._resting is not None  # noqa: SLF001
        return round(writer._resting.when() - loop.time(), 1)  # noqa: SLF001

    try:
        monkeypatch.setattr(writer, "_command", slow)
        with pytest.raises(redis.TimeoutError):
            await store.place_intent(_intent(), SCOPES, reducing=False)
        rests = [rest_s()]
        pending = store.place_intent(_intent(), SCOPES, reducing=False)
        assert not (isinstance(pending, asyncio.Future) and pending.done())  # resting: pipelined
        assert (await pending)[0] is not None
        for _ in range(7):  # each probe fails: a longer rest
            writer._resting.cancel()  # noqa: SLF001  (the rest is over)
            writer._probe()  # noqa: SLF001
            rests.append(rest_s())
        assert rests == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
        monkeypatch.setattr(writer, "_command", lambda *args: redis.ResponseError("NOPERM no permission"))
        writer._resting.cancel()  # noqa: SLF001
        writer._probe()  # noqa: SLF001  (an error reply is no PONG: resting still)
        assert writer._resting is not None and writer._blocking_failures == 9  # noqa: SLF001
        monkeypatch.setattr(writer, "_command", real)
        writer._resting.cancel()  # noqa: SLF001
        writer._probe()  # noqa: SLF001  (answered)
        assert writer._resting is None and writer._blocking_failures == 0  # noqa: SLF001
        now = store.place_intent(_intent(), SCOPES, reducing=False)
        assert isinstance(now, asyncio.Future) and now.done()  # at once again
        assert (await now)[0] is not None
    finally:
        await store.close()


async def test_with_no_blocking_timeout_every_intent_is_pipelined(redis_url: str, prefix: str) -> None:
    """``redis.intent_timeout_ms: 0`` (a Redis far away): intents never hold the loop."""
    store = RedisStore(redis_url, prefix, blocking_timeout_s=0)
    try:
        pending = store.place_intent(_intent(), SCOPES, reducing=False)
        assert not (isinstance(pending, asyncio.Future) and pending.done())
        cid, _ = await pending
        assert cid is not None and [o.client_order_id for o in await store.load_orders(SYMBOL)] == [cid]
    finally:
        await store.close()
