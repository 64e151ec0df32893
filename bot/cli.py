"""``scalebot`` command line. Exit codes: see :class:`bot.errors.ExitCode` and the README."""

from __future__ import annotations

import argparse
import contextlib
import asyncio
import getpass
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Sequence
from urllib.parse import urlsplit

import uvloop

from bot.config import Config, exposed_secrets, load_config
from bot.errors import ConfigError, ExitCode, ScalebotError
from bot.log import configure, get_logger, register_secrets
from bot.state.store import RedisStore

if TYPE_CHECKING:
    from bot.metrics import Metrics

# The daemon, the recorder, replay and the metrics endpoint import ccxt and prometheus_client
# (and numpy with options): they are imported by the commands that use them, so `health`,
# `status`, `kill` and `check-config` start fast (a container probe runs `health` every few seconds).

DEFAULT_CONFIG_ENV = "SCALEBOT_CONFIG"
DEFAULT_CONFIG = "config/paper.yaml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scalebot", description="Work policy targets with passive orders.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-format", choices=["auto", "json", "console"], help="override logging.format")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="run the daemon")
    run.add_argument("--config", required=True, help="YAML config file")
    run.add_argument("--live", action="store_true", help="required, with mode: live, to trade real money")

    check = sub.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("file")

    status = sub.add_parser("status", parents=[common], help="show targets, positions, orders and kill switches from Redis")
    _config_arg(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")

    health = sub.add_parser("health", help="exit 0 if the daemon's heartbeat is fresh, 5 if not (for probes)")
    _config_arg(health)
    health.add_argument("--max-age-s", type=float, default=10.0, help="oldest acceptable heartbeat (default 10)")

    for name, verb in (("kill", "engage"), ("resume", "lift")):
        cmd = sub.add_parser(name, parents=[common], help=f"{verb} the kill switch (global unless --instrument)")
        _config_arg(cmd)
        scope = cmd.add_mutually_exclusive_group()
        scope.add_argument("--instrument", metavar="SYMBOL", help="only this instrument")
        scope.add_argument("--account", metavar="NAME", help="every instrument of this account (engine.account)")
        cmd.add_argument("--reason", required=True, help="recorded in Redis and the audit stream")
        if name == "kill":
            cmd.add_argument("--flatten", action="store_true",
                             help="after cancelling, close positions with reduce-only passive orders")

    rep = sub.add_parser("replay", parents=[common], help="run a config on recorded market data (Tardis CSV)")
    rep.add_argument("--config", required=True, help="YAML config whose venue is type: replay")
    rep.add_argument("--data", required=True, metavar="DIR", help="folder of Tardis.dev CSV files (.csv or .csv.gz)")
    rep.add_argument("--out", required=True, metavar="DIR", help="where orders.jsonl, fills.jsonl, summary.json go")
    rep.add_argument("--realtime", action="store_true", help="pace the replay to wall time")

    report_cmd = sub.add_parser("report", help="summarise the execution metrics of a replay's output folder")
    report_cmd.add_argument("out", metavar="DIR")

    rec = sub.add_parser("record", parents=[common],
                         help="write a venue's live book and trade streams as Tardis.dev CSV files (for replay)")
    rec.add_argument("--venue", required=True, choices=["deribit", "binanceusdm"])
    rec.add_argument("--symbols", required=True, nargs="+", metavar="SYM", help="venue ids or ccxt symbols")
    rec.add_argument("--out", required=True, metavar="DIR", help="directory for the .csv.gz files")
    rec.add_argument("--seconds", type=float, help="stop after this long (default: until interrupted)")
    rec.add_argument("--testnet", action="store_true", help="the venue's test network")
    return p


def _config_arg(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--config", default=os.environ.get(DEFAULT_CONFIG_ENV, DEFAULT_CONFIG),
                     help=f"YAML config file (default ${DEFAULT_CONFIG_ENV} or {DEFAULT_CONFIG})")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(_dispatch(args))
    except ScalebotError as exc:
        print(f"scalebot: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.OK)


def _dispatch(args: argparse.Namespace) -> ExitCode:
    if args.command == "check-config":
        config = load_config(args.file)
        print(f"{args.file}: ok ({config.mode} mode, {len(config.instruments)} instrument(s))")
        return ExitCode.OK
    if args.command == "report":
        from bot.replay import report
        try:
            print(report(Path(args.out)))
        except FileNotFoundError:
            raise ConfigError(f"{args.out}: no summary.json (is it the --out folder of `scalebot replay`?)") from None
        return ExitCode.OK
    if args.command == "record":
        configure(args.log_format or "auto", "info")
        return uvloop.run(_record(args))
    config = load_config(args.config)
    secrets = [urlsplit(config.redis_url).password or ""]
    if config.credentials is not None:
        secrets += [s.get_secret_value() for s in (config.credentials.api_key, config.credentials.secret,
                                                   config.credentials.password) if s is not None]
    register_secrets(secrets)
    metrics = _metrics() if args.command == "run" and config.metrics.enabled else None
    configure(getattr(args, "log_format", None) or config.logging.format, config.logging.level,
              extra=[metrics.processor] if metrics else ())
    exposed = exposed_secrets(args.config)
    if exposed:
        get_logger().warning("config.secrets_readable_by_others", path=args.config, keys=exposed,
                             fix=f"chmod 600 {args.config}, or use ${{ENV_VAR}} / ${{file:/path}} references")
    if args.command == "replay":
        from bot.replay import report, run_replay
        uvloop.run(run_replay(config, Path(args.data), Path(args.out), realtime=args.realtime))
        print(report(Path(args.out)))
        return ExitCode.OK
    if args.command == "run":
        _check_mode(config, args.live)
        if metrics is not None:
            metrics.serve(config.metrics.port, config.metrics.host)
        return uvloop.run(_run(config, args.config, metrics))
    if args.command == "status":
        return uvloop.run(_status(config, args.json))
    if args.command == "health":
        return uvloop.run(_health(config, args.max_age_s))
    scope = args.instrument or (f"account:{args.account}" if args.account else "global")
    action = "flatten" if getattr(args, "flatten", False) else "cancel"
    return uvloop.run(_kill_command(config, args.command, scope, args.reason, action))


def _check_mode(config: Config, live_flag: bool) -> None:
    if config.mode == "live" and not live_flag:
        raise ConfigError("mode: live trades real money; add --live to the command line to confirm")
    if live_flag and config.mode != "live":
        raise ConfigError(f"--live given but the config's mode is {config.mode!r}; set mode: live to trade live")


def _metrics() -> Metrics:
    from bot.metrics import Metrics
    return Metrics()


async def _run(config: Config, path: str, metrics: Metrics | None) -> ExitCode:
    from bot.daemon import Daemon
    stop = asyncio.Event()
    daemon = Daemon(config, metrics=metrics)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, daemon.reload, path)
    return await daemon.run(stop)


async def _record(args: argparse.Namespace) -> ExitCode:
    from bot.record import record
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await record(args.venue, args.symbols, args.out, seconds=args.seconds, testnet=args.testnet, stop=stop)
    return ExitCode.OK


@contextlib.asynccontextmanager
async def _connected(config: Config) -> AsyncIterator[RedisStore]:
    """The config's Redis store, checked reachable (exit 3 with a hint if not), closed after."""
    store = RedisStore(config.redis_url, config.redis.prefix, config.redis.intent_timeout_ms / 1000)
    try:
        await store.ping()
        yield store
    finally:
        await store.close()


async def _status(config: Config, as_json: bool) -> ExitCode:
    async with _connected(config) as store:
        status = await store.status(time.time())
    print(json.dumps(status, indent=2) if as_json else _format_status(status))
    return ExitCode.OK


async def _health(config: Config, max_age_s: float) -> ExitCode:
    async with _connected(config) as store:
        age = await store.heartbeat_age(time.time())
    if age is None or age > max_age_s:
        print(f"unhealthy: heartbeat age {'none' if age is None else f'{age:.1f}s'} (limit {max_age_s}s)")
        return ExitCode.UNHEALTHY
    print(f"healthy: heartbeat age {age:.1f}s")
    return ExitCode.OK


def _format_status(status: dict[str, Any]) -> str:
    lines = [f"prefix {status['prefix']}  mode {status['mode'] or '-'}  heartbeat age "
             f"{_age(status['heartbeat_age_s'])}  kill switch {_kill_text(status['kill_switch'])}"]
    for symbol, s in status["instruments"].items():
        fill = s["last_fill"]
        last = f"{fill['side']} {fill['size']} @ {fill['price']}" if fill else "-"
        lines.append(f"{symbol}: target {s['target'] or '-'}  position {s['position']}  "
                     f"working {len(s['working_orders'])}  last fill {last}  "
                     f"kill switch {_kill_text(s['kill_switch'])}  heartbeat age {_age(s['heartbeat_age_s'])}")
        for o in s["working_orders"]:
            lines.append(f"    {o['client_order_id']} {o['side']} {o['remaining']} @ {o['price']} ({o['status']})")
    others = {k: v for k, v in status["kill_switches"].items() if k != "global" and k not in status["instruments"]}
    for scope, switch in others.items():
        lines.append(f"kill switch {scope}: {_kill_text(switch)}")
    if not status["instruments"]:
        lines.append("no instruments yet: has `scalebot run` been started with this prefix?")
    return "\n".join(lines)


def _age(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


def _kill_text(switch: dict[str, str] | None) -> str:
    return "off" if not switch else f"ENGAGED ({switch.get('reason', '')})"


async def _kill_command(config: Config, command: str, scope: str, reason: str, action: str) -> ExitCode:
    by = f"{getpass.getuser()}@cli"
    async with _connected(config) as store:
        if command == "kill":
            await store.engage_kill(scope, reason, by, action)
        else:
            await store.lift_kill(scope, reason, by)
    get_logger().info(f"kill_switch.{'engaged' if command == 'kill' else 'lifted'}", scope=scope, reason=reason, by=by)
    return ExitCode.OK
