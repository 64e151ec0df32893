"""Start-up reconciliation: make the engine's journal (Redis) and the venue agree.

The venue is the truth about orders, fills and positions. Orders the venue has but the journal
does not are cancelled; journalled orders take the venue's status (or are dropped when the venue
never saw them: their send did not happen); fills the journal missed are applied once each; a
position that still differs is taken from the venue. Every correction is logged as ``reconcile.*``.

The venue's orders keep filling while this runs (their updates reach the engine through the
daemon's dispatcher, a little later), so the position is only compared once it is *settled*: read
between two fill catch-ups that find no new fill, when every fill it includes has been applied.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bot.core.types import OrderStatus, OrderUpdate
from bot.engine import InstrumentEngine
from bot.log import get_logger
from bot.state.base import Store
from bot.venues.base import OrderNotFound, Venue

FILL_LOOKBACK_S = 60.0
SETTLE_ATTEMPTS = 10
"""Position reads tried before reconcile gives up on a venue that keeps filling our orders."""


class PositionUnsettled(Exception):
    """The venue filled our orders between every pair of reads: its position cannot be compared."""


async def reconcile(engine: InstrumentEngine, venue: Venue, store: Store) -> None:
    symbol = engine.symbol
    log = get_logger(instrument=symbol)
    await engine.flush_unrecorded_fills()  # counted while Redis was away, before the journal is read
    engine.position = await store.load_position(symbol)
    engine.restore_target(await store.load_target(symbol))
    journal = {o.client_order_id: o for o in await store.load_orders(symbol)}
    engine.orders = dict(journal)
    engine.attached = True  # from here the venue's order updates and fills apply (deduplicated)
    at_venue = {o.client_order_id: o for o in await venue.fetch_open_orders(symbol)}

    for cid, venue_order in at_venue.items():
        if cid not in journal:
            log.warning("reconcile.orphan_cancelled", client_order_id=cid, side=venue_order.side.value,
                        price=venue_order.price, size=venue_order.size)
            await venue.cancel_order(symbol, cid)

    for cid, order in journal.items():
        venue_order = at_venue.get(cid)
        if venue_order is None:
            try:
                venue_order = await venue.fetch_order(symbol, cid)
            except OrderNotFound:
                log.warning("reconcile.order_dropped", client_order_id=cid, reason="the venue never received it")
                await engine.on_order_update(OrderUpdate(symbol, cid, OrderStatus.REJECTED, order.filled,
                                                         reason="never reached the venue"))
                continue
        if venue_order.status.is_live:
            engine.orders[cid] = replace(order, price=venue_order.price)
        log.info("reconcile.order_adopted", client_order_id=cid, status=venue_order.status.value,
                 filled=venue_order.filled, price=venue_order.price)
        await engine.on_order_update(OrderUpdate(symbol, cid, venue_order.status, venue_order.filled,
                                                 venue_order.venue_order_id, "reconciled"))
        if order.status is OrderStatus.CANCEL_PENDING and venue_order.status.is_live:
            await engine.cancel(cid, order.reason or "cancel requested before restart")

    venue_position = await settled_position(engine, venue)
    if venue_position != engine.position.size:
        log.error("reconcile.position_adjusted", journal=engine.position.size, venue=venue_position)
        engine.position = replace(engine.position, size=venue_position)
        await store.save_position(symbol, engine.position)
    log.info("reconcile.done", position=engine.position.size, target=engine.target,
             working_orders=len(engine.live_orders()))


async def settled_position(engine: InstrumentEngine, venue: Venue) -> Decimal:
    """The venue's position at a moment when the engine has applied every fill it includes.

    A fill made before the position is read but not yet applied (its update still on its way to
    the engine) would otherwise be counted twice: once by taking the venue's position, once more
    when its update arrives. So the position is read between two fill catch-ups; if the second
    finds no fill the first had not, none happened in between, and the engine's position has
    every fill the venue's includes, and no other. Raises :class:`PositionUnsettled` when the
    venue fills again between every pair of reads (:data:`SETTLE_ATTEMPTS`).

    Relies on :meth:`InstrumentEngine.apply_fill` returning only once the fill is in the engine's
    position, also when it answers "duplicate" while the dispatcher is still applying that fill.
    """
    seen = await catch_up_fills(engine, venue)
    for _ in range(SETTLE_ATTEMPTS):
        position = await venue.fetch_position(engine.symbol)
        latest = await catch_up_fills(engine, venue)
        if latest <= seen:
            return position
        seen |= latest
    raise PositionUnsettled(f"the venue kept filling through {SETTLE_ATTEMPTS} position reads")


async def catch_up_fills(engine: InstrumentEngine, venue: Venue) -> set[str]:
    """Apply the venue's fills the engine has not seen (each once, by trade id); returns the
    trade ids of every fill the venue listed."""
    log = get_logger(instrument=engine.symbol)
    fills = await venue.fetch_fills(engine.symbol, engine.position.last_fill_ts - FILL_LOOKBACK_S)
    for fill in fills:
        if await engine.apply_fill(fill):
            log.warning("reconcile.fill_applied", trade_id=fill.trade_id, size=fill.signed_size, price=fill.price)
    return {fill.trade_id for fill in fills}
