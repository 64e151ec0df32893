"""Three instances on one Redis share three instruments through leases, while instances are
SIGKILLed and replaced at random: no instrument ever has two owners writing (fencing tokens in
the journal only ever rise), a dead owner's instruments are taken over within the lease time, and
a global kill switch reaches every live instance within a second."""

from __future__ import annotations

import itertools
import random
import signal
import time
from datetime import datetime
from pathlib import Path

import redis

from bot.state.keys import Keys

from tests.integration.support import DaemonProcess, cli, config_dict, wait_for, write_config

SYMBOLS = ("BTC-PERP", "ETH-PERP", "SOL-PERP")
LEASE_MS = 1000


def _config(prefix: str, instance: str) -> dict:
    data = config_dict(prefix, target="0.5")
    market = data["venue"]["markets"]["BTC-PERP"]
    data["venue"]["markets"] = {s: dict(market, price=p) for s, p in zip(SYMBOLS, (60000, 3000, 150))}
    data["venue"]["markets"]["SOL-PERP"].update(tick_size="0.01", min_notional="1")
    data["venue"]["markets"]["ETH-PERP"].update(tick_size="0.05")
    inst = data["instruments"][0]
    # targets that keep flipping, so every owner keeps journalling
    inst["policy"]["steps"] = [{"after_s": 2 * i, "target": "0.3" if i % 2 else "-0.3"} for i in range(40)]
    data["instruments"] = [dict(inst, symbol=s) for s in SYMBOLS]
    data["engine"].update(instance_id=instance, lease_ms=LEASE_MS)
    return data


def _ts(event: dict) -> float:
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


def test_leases_under_random_sigkills(prefix: str, redis_url: str, tmp_path: Path) -> None:
    rng = random.Random(20261124)
    names = (f"inst{i}" for i in itertools.count())
    procs: dict[str, DaemonProcess] = {}

    def start() -> None:
        name = next(names)
        config = write_config(tmp_path / f"{name}.yaml", _config(prefix, name))
        procs[name] = DaemonProcess(config, tmp_path / f"{name}.log")

    kills: list[tuple[str, float, set[str]]] = []
    try:
        for _ in range(3):
            start()
        wait_for(lambda: all(any(e["event"] == "lease.acquired" and e["instrument"] == s
                                 for p in procs.values() for e in p.events()) for s in SYMBOLS), 20, what="owners")
        for _ in range(5):
            time.sleep(rng.uniform(1.0, 2.5))
            alive = [n for n, p in procs.items() if p.proc.poll() is None]
            victim = rng.choice(alive)
            owned = _currently_owned(procs[victim])
            procs[victim].stop(signal.SIGKILL)
            kills.append((victim, time.time(), owned))
            start()
        time.sleep(LEASE_MS / 1000 * 2.5)

        assert cli("kill", "--config", str(tmp_path / "inst0.yaml"), "--reason", "all stop").returncode == 0
        audit = redis.Redis.from_url(redis_url, decode_responses=True)
        killed_at = float(audit.xrevrange(Keys(prefix).audit, count=1)[0][1]["ts"])  # when the switch was set
        audit.close()
        alive = [p for p in procs.values() if p.proc.poll() is None]
        wait_for(lambda: all(any(e["event"] == "kill_switch.engaged" for e in p.events()) for p in alive
                             if _currently_owned(p)), 5, what="kill reaches every owner")
        for p in alive:
            for e in p.events():
                if e["event"] == "kill_switch.engaged":
                    assert _ts(e) - killed_at <= 1.0, (e, killed_at)
                    break
    finally:
        codes = {n: p.stop() for n, p in procs.items() if p.proc.poll() is None}
    assert set(codes.values()) <= {0}

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(prefix)
    for symbol in SYMBOLS:
        tokens = [int(f["token"]) for _, f in client.xrange(keys.journal(symbol)) if f.get("token")]
        assert tokens, symbol
        assert tokens == sorted(tokens), f"{symbol}: a stale owner wrote after its successor"
    client.close()

    acquired = [(p, e) for p in procs.values() for e in p.events() if e["event"] == "lease.acquired"]
    for victim, at, owned in kills:
        for symbol in owned:
            later = [_ts(e) for _, e in acquired if e["instrument"] == symbol and _ts(e) > at]
            assert later and min(later) - at <= LEASE_MS / 1000 + 1.5, (victim, symbol)


def _currently_owned(proc: DaemonProcess) -> set[str]:
    owned: set[str] = set()
    for e in proc.events():
        if e["event"] == "lease.acquired":
            owned.add(e["instrument"])
        elif e["event"] == "lease.lost":
            owned.discard(e["instrument"])
    return owned


def test_a_paused_owner_is_fenced_off_when_it_wakes(prefix: str, redis_url: str, tmp_path: Path) -> None:
    """SIGSTOP the owner past its lease, let another instance take over, SIGCONT it: the old owner
    stops working the instrument and none of its writes lands after its successor's."""
    procs = [DaemonProcess(write_config(tmp_path / f"p{i}.yaml", _config(prefix, f"p{i}")), tmp_path / f"p{i}.log")
             for i in range(2)]
    try:
        owner = wait_for(lambda: next((p for p in procs if "BTC-PERP" in _currently_owned(p)), None), 20, what="owner")
        other = procs[1 - procs.index(owner)]
        owner.proc.send_signal(signal.SIGSTOP)
        wait_for(lambda: "BTC-PERP" in _currently_owned(other), LEASE_MS / 1000 + 5, what="takeover")
        owner.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: any(e["event"] == "lease.lost" for e in owner.events()), 10, what="old owner notices")
        time.sleep(1.0)
    finally:
        for p in procs:
            p.proc.send_signal(signal.SIGCONT)
        codes = [p.stop() for p in procs]
    assert codes == [0, 0]
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    for symbol in SYMBOLS:
        tokens = [int(f["token"]) for _, f in client.xrange(Keys(prefix).journal(symbol)) if f.get("token")]
        assert tokens == sorted(tokens), symbol
    client.close()
