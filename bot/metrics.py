"""Prometheus metrics, fed by the structured log events (the logs are the monitor).

Every order action, fill and risk refusal is already one log event with a stable name; a
structlog processor counts them here, so metrics and logs can never disagree. Decision latency
is observed by the engine. Served over HTTP only when ``metrics.enabled`` is set.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_ORDER_EVENTS = {"order.placed": "placed", "order.repriced": "repriced", "order.cancelled": "cancelled",
                 "order.rejected": "rejected"}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.orders = Counter("scalebot_orders", "Order actions", ["instrument", "action"], registry=self.registry)
        self.fills = Counter("scalebot_fills", "Fills", ["instrument", "liquidity"], registry=self.registry)
        self.filled = Counter("scalebot_filled_contracts", "Filled size, contracts", ["instrument"],
                              registry=self.registry)
        self.rejections = Counter("scalebot_risk_rejections", "Pre-trade refusals by limit", ["instrument", "limit"],
                                  registry=self.registry)
        self.kills = Counter("scalebot_kill_switch_engagements", "Kill switches seen engaged", ["scope"],
                             registry=self.registry)
        self.position = Gauge("scalebot_position_contracts", "Position, contracts", ["instrument"],
                              registry=self.registry)
        self.target = Gauge("scalebot_target_contracts", "Target, contracts", ["instrument"], registry=self.registry)
        self.decision_seconds = Histogram(
            "scalebot_decision_seconds", "Time from wake-up to the end of a decision", ["instrument"],
            buckets=(5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5), registry=self.registry)

    def serve(self, port: int, host: str) -> None:
        """Expose ``/metrics`` on ``host:port`` (a background thread)."""
        start_http_server(port, addr=host, registry=self.registry)

    def processor(self, _: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        """A structlog processor: count the event, pass it on unchanged."""
        name = event.get("event")
        instrument = str(event.get("instrument", ""))
        if name in _ORDER_EVENTS:
            self.orders.labels(instrument, _ORDER_EVENTS[name]).inc()
        elif name == "order.filled":
            self.fills.labels(instrument, str(event.get("liquidity", ""))).inc()
            self.filled.labels(instrument).inc(float(event.get("size", 0)))
            self.position.labels(instrument).set(float(event.get("position", 0)))
        elif name == "risk.rejected":
            self.rejections.labels(instrument, str(event.get("limit", ""))).inc()
        elif name == "kill_switch.engaged":
            self.kills.labels(str(event.get("scope", ""))).inc()
        elif name == "target.computed":
            self.target.labels(instrument).set(float(event.get("target", 0)))
        return event
