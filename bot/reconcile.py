"""Start-up reconciliation: make the engine's journal (Redis) and the venue agree.

The venue is the truth about orders, fills and positions. Orders the venue has but the journal
does not are cancelled; journalled orders take the venue's status (or are dropped when the venue
never saw them: their send did not happen); fills the journal missed are applied once each; a
position that still differs is taken from the venue. Every correction is logged as ``reconcile.*``.
"""

from __future__ import annotations

from dataclasses import replace

from bot.core.types import OrderStatus, OrderUpdate
from bot.engine import InstrumentEngine
from bot.log import get_logger
from bot.state.base import Store
from bot.venues.base import OrderNotFound, Venue

FILL_LOOKBACK_S = 60.0


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

    await catch_up_fills(engine, venue)
    venue_position = await venue.fetch_position(symbol)
    if venue_position != engine.position.size:
        log.error("reconcile.position_adjusted", journal=engine.position.size, venue=venue_position)
        engine.position = replace(engine.position, size=venue_position)
        await store.save_position(symbol, engine.position)
    log.info("reconcile.done", position=engine.position.size, target=engine.target,
             working_orders=len(engine.live_orders()))


async def catch_up_fills(engine: InstrumentEngine, venue: Venue) -> None:
    """Apply the venue's fills the engine has not seen (each once, by trade id)."""
    log = get_logger(instrument=engine.symbol)
    for fill in await venue.fetch_fills(engine.symbol, engine.position.last_fill_ts - FILL_LOOKBACK_S):
        if await engine.apply_fill(fill):
            log.warning("reconcile.fill_applied", trade_id=fill.trade_id, size=fill.signed_size, price=fill.price)
