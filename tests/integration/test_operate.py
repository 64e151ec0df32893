"""Operating a running daemon: SIGHUP reloads a valid config and keeps the old one on an invalid
file; the periodic summary event; Prometheus metrics on loopback."""

from __future__ import annotations

import signal
from decimal import Decimal
import socket
import urllib.request
from pathlib import Path

from tests.integration.support import DaemonProcess, config_dict, wait_for, write_config


def _events(daemon: DaemonProcess, name: str) -> list[dict]:
    return [e for e in daemon.events() if e["event"] == name]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sighup_reload_summary_and_metrics(prefix: str, tmp_path: Path) -> None:
    port = _free_port()
    data = config_dict(prefix, target="0.3")
    data["engine"].update(summary_interval_s=0.5)
    data["metrics"] = {"enabled": True, "port": port}
    path = write_config(tmp_path / "c.yaml", data)
    daemon = DaemonProcess(path, tmp_path / "run.log")
    try:
        wait_for(lambda: _events(daemon, "order.placed"), 20, what="orders")

        data["instruments"][0]["policy"]["steps"][0]["target"] = "-0.2"
        write_config(path, data)
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: _events(daemon, "config.reloaded"), 10, what="reload")
        wait_for(lambda: any(e["target"] == "-0.2" for e in _events(daemon, "target.computed")), 10, what="new target")
        parent = wait_for(lambda: _events(daemon, "execution.completed"), 5, what="the first parent order's report")[0]
        assert parent["side"] == "buy" and Decimal(parent["quantity"]) == Decimal("0.3")
        assert "shortfall_bps" in parent and parent["order_actions"] >= 1
        assert parent["fills"] == 0 or parent["maker_share"] == 1.0  # passive orders only

        path.write_text("mode: paper\ninstruments: [\n")
        daemon.proc.send_signal(signal.SIGHUP)
        failed = wait_for(lambda: _events(daemon, "config.reload_failed"), 10, what="rejected reload")
        assert "malformed YAML" in str(failed[0]["errors"])
        assert daemon.proc.poll() is None  # still running on the old config

        summary = wait_for(lambda: _events(daemon, "summary"), 10, what="summary")[-1]
        assert summary["instrument"] == "BTC-PERP" and summary["target"] == "-0.2"
        assert {"position", "working_orders", "realized_pnl_usd", "fees_usd", "fill_ratio"} <= summary.keys()

        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert 'scalebot_orders_total{action="placed",instrument="BTC-PERP"}' in body
        assert "scalebot_decision_seconds_bucket" in body
    finally:
        assert daemon.stop() == 0
