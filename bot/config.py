"""The YAML configuration: pydantic models (unknown keys rejected) and a loader whose errors name
the key path, the bad value and what was expected.

Secrets are written as ``${ENV_VAR}`` anywhere a string goes and resolved at load; credential
fields are :class:`~pydantic.SecretStr`, so they never show in a repr, log or error.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from bot.core.guards import GuardLimits
from bot.core.modifiers import ModifierConfig
from bot.core.planner import ExecutionParams, Urgency
from bot.core.policies import POLICY_TYPES, PolicyConfig
from bot.core.policies.base import UrgencyParams
from bot.core.risk import AccountLimits, RiskLimits
from bot.core.types import InstrumentSpec, OptionTerms
from bot.errors import ConfigError
from bot.venues.ccxt.config import CcxtVenueConfig
from bot.venues.replay.config import ReplayVenueConfig
from bot.venues.simulated.market import MarketParams

if TYPE_CHECKING:
    from bot.core.options_book import OptionPosition

REDIS_URL_ENV = "SCALEBOT_REDIS_URL"
_ENV_REF = re.compile(r"\$\{(?:file:(?P<file>[^}]+)|(?P<env>[A-Za-z_][A-Za-z0-9_]*))\}")
"""``${ENV_VAR}`` takes an environment variable, ``${file:/path}`` a file's content (stripped)."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RedisConfig(Model):
    url: str = Field(default="redis://127.0.0.1:6379/0", description="overridden by $SCALEBOT_REDIS_URL")
    prefix: str = Field(default="scalebot", min_length=1, pattern=r"^[A-Za-z0-9:_.-]+$")
    intent_timeout_ms: int = Field(
        default=100, ge=0, le=5000,
        description="how long a new order's intent may hold the event loop waiting for Redis (per step); "
                    "0 sends every intent pipelined (a Redis far away)",
    )


class Credentials(Model):
    api_key: SecretStr
    secret: SecretStr
    password: SecretStr | None = None


class SimOptionConfig(Model):
    """Makes a simulated market an option on ``base`` (priced by its own random walk: a stand-in
    for an option order book; its Greeks come from Black-76 at the vol its mid implies)."""

    kind: Literal["call", "put"]
    strike: float = Field(gt=0, description="USD")
    days_to_expiry: float = Field(gt=0, description="days from daemon start")
    iv: float = Field(default=0.6, gt=0, le=5, description="fallback implied vol, a fraction")
    settlement: Literal["usd", "coin"] = "usd"


class SimMarketConfig(Model):
    """One simulated instrument: its contract terms and the character of its market."""

    price: float = Field(gt=0, description="initial mid, quote currency")
    tick_size: Decimal = Field(gt=0)
    lot_size: Decimal = Field(gt=0, description="contracts")
    min_size: Decimal | None = Field(default=None, gt=0, description="contracts; default one lot")
    min_notional: Decimal = Field(default=Decimal(0), ge=0)
    contract_size: Decimal = Field(default=Decimal(1), gt=0, description="coins (linear) or USD (inverse)")
    inverse: bool = False
    base: str = "BTC"
    quote: str = "USDT"
    maker_fee_bps: Decimal = Decimal("-0.5")
    taker_fee_bps: Decimal = Decimal(5)
    annual_vol: float = Field(default=0.6, gt=0, le=5)
    step_ms: int = Field(default=100, ge=1)
    max_spread_ticks: int = Field(default=3, ge=1)
    depth_levels: int = Field(default=10, ge=1)
    level_size: float = Field(default=1.0, gt=0, description="mean displayed size per level, contracts")
    trades_per_s: float = Field(default=10.0, ge=0)
    trade_size: float = Field(default=0.3, gt=0, description="mean taker size, contracts")
    option: SimOptionConfig | None = None

    def spec(self, symbol: str, started_ts: float = 0.0) -> InstrumentSpec:
        o = self.option
        terms = OptionTerms(o.kind == "call", o.strike, started_ts + o.days_to_expiry * 86_400,
                            o.settlement == "coin", o.iv) if o else None
        return InstrumentSpec(
            symbol=symbol, tick_size=self.tick_size, lot_size=self.lot_size,
            min_size=self.min_size or self.lot_size, min_notional=self.min_notional,
            contract_size=self.contract_size, inverse=self.inverse, base=self.base, quote=self.quote,
            maker_fee_bps=self.maker_fee_bps, taker_fee_bps=self.taker_fee_bps, option=terms,
        )

    def market(self) -> MarketParams:
        return MarketParams(
            price=self.price, tick=self.tick_size, lot=self.lot_size, annual_vol=self.annual_vol,
            step_s=self.step_ms / 1000, max_spread_ticks=self.max_spread_ticks,
            depth_levels=self.depth_levels, level_size=self.level_size,
            trades_per_s=self.trades_per_s, trade_size=self.trade_size,
        )


class SimulatedVenueConfig(Model):
    type: Literal["simulated"] = "simulated"
    seed: int = 1
    speed: float = Field(default=1.0, gt=0, description="market steps this many times faster than real time")
    markets: dict[str, SimMarketConfig] = Field(min_length=1)


class ExecutionConfig(Model):
    max_order_size: Decimal = Field(gt=0, description="contracts per child order")
    reprice_tolerance_ticks: int = Field(default=1, ge=0)
    min_order_lifetime_ms: int = Field(default=1000, ge=0)
    max_working_orders: int = Field(default=2, ge=1, description="child orders working at once")
    improve_when_spread_ticks: int | None = Field(default=None, ge=2, description="quote inside a spread this wide")
    depth_fraction: float | None = Field(default=None, gt=0, le=10, description="child size vs displayed size")
    layers: int = Field(default=1, ge=1, le=10, description="resting levels, one tick apart")
    urgency: UrgencyParams = UrgencyParams()

    def params(self) -> ExecutionParams:
        return ExecutionParams(
            self.max_order_size, self.reprice_tolerance_ticks, self.min_order_lifetime_ms / 1000,
            self.max_working_orders, self.improve_when_spread_ticks, self.depth_fraction, self.layers,
            self.urgency.urgency(),
        )


class RiskConfig(Model):
    max_position: Decimal = Field(gt=0, description="contracts")
    max_order_size: Decimal = Field(gt=0, description="contracts")
    stale_after_ms: int = Field(default=2000, gt=0, description="no new orders on a book older than this")
    price_band_bps: Decimal = Field(default=Decimal(50), gt=0, description="limit price vs mark (else mid)")
    max_notional_usd: Decimal | None = Field(default=None, gt=0)
    max_working_orders: int | None = Field(default=None, ge=1)
    max_abs_delta_coin: float | None = Field(default=None, gt=0, description="portfolio delta, coins")
    max_abs_gamma_coin: float | None = Field(default=None, gt=0, description="portfolio gamma, coins per USD")
    max_abs_vega_usd_per_vol_point: float | None = Field(default=None, gt=0)
    hard_position_limit: Decimal | None = Field(default=None, gt=0, description="contracts; beyond it: kill switch")

    def guards(self, engine: GuardsConfig) -> GuardLimits:
        return GuardLimits(engine.max_consecutive_rejects, engine.max_errors_per_minute,
                           engine.stale_data_kill_after_s, self.hard_position_limit)

    def limits(self) -> RiskLimits:
        return RiskLimits(
            self.max_position, self.max_order_size, self.stale_after_ms / 1000, self.price_band_bps,
            self.max_notional_usd, self.max_working_orders, self.max_abs_delta_coin, self.max_abs_gamma_coin,
            self.max_abs_vega_usd_per_vol_point,
        )


class InstrumentConfig(Model):
    symbol: str = Field(min_length=1)
    policy: PolicyConfig
    modifiers: list[ModifierConfig] = Field(default=[], description="applied to the policy's target, in order")
    execution: ExecutionConfig
    risk: RiskConfig
    sample_interval_ms: int = Field(default=1000, gt=0, description="mid sampling for realised statistics")


class OptionConfig(Model):
    """One option position held alongside the traded instruments (valued, never traded)."""

    underlying: str = Field(min_length=1, description="coin, e.g. BTC: matches instruments' base")
    kind: Literal["call", "put"]
    strike: float = Field(gt=0, description="USD")
    days_to_expiry: float = Field(gt=0, description="days from daemon start")
    quantity: float = Field(description="coins of underlying, signed (negative = short)")
    iv: float = Field(gt=0, le=5, description="implied vol, a fraction (0.6 = 60 %)")
    settlement: Literal["coin", "usd"] = Field(default="coin", description="coin = inverse, Deribit style")
    venue_symbol: str | None = Field(default=None, description="the venue's name, to match its option tickers")

    def position(self, key: str, started_ts: float) -> OptionPosition:
        from bot.core.options_book import OptionPosition  # numpy and the Greeks engine: only with options
        return OptionPosition(key, self.underlying, self.strike, started_ts + self.days_to_expiry * 86_400,
                              self.kind == "call", self.quantity, self.iv, self.settlement == "coin",
                              self.venue_symbol)


class PortfolioConfig(Model):
    capital_usd: float = Field(default=100_000, gt=0, description="paper account equity at start, USD")
    options: list[OptionConfig] = []
    greeks_source: Literal["local", "venue"] = Field(
        default="local", description="local: Black-76 at mark IV; venue: the venue's Greeks where it sends them")
    greeks_tolerance: float = Field(default=0.05, gt=0, description="relative local-vs-venue gap that is logged")
    venue_max_age_s: float = Field(
        default=10.0, gt=0, description="greeks_source venue: the venue's option position delta is used while at "
                                        "most this old (s), else the computed one")
    delta_unit: Literal["coin", "usd_pnl"] = Field(
        default="coin", description="coin: premium-adjusted (keeps coins stable); usd_pnl: Black delta + coin_balance")
    coin_balance: dict[str, float] = Field(default={}, description="coins held as collateral, per underlying")
    max_daily_loss_usd: float | None = Field(default=None, gt=0, description="engages the global kill switch")
    max_drawdown_fraction: float | None = Field(default=None, gt=0, lt=1, description="from peak equity; kills")

    def limits(self) -> AccountLimits:
        return AccountLimits(self.max_daily_loss_usd, self.max_drawdown_fraction)


class GuardsConfig(Model):
    """Automatic kill switches (``null`` disables one) and what an engaged switch does."""

    kill_action: Literal["cancel", "flatten"] = Field(
        default="cancel", description="cancel: cancel all; flatten: cancel, then close with passive orders")
    max_consecutive_rejects: int | None = Field(default=5, ge=1, description="venue refusals in a row (post-only rejections excluded)")
    max_errors_per_minute: int | None = Field(default=20, ge=1, description="venue call failures")
    stale_data_kill_after_s: float | None = Field(default=30.0, gt=0, description="book older than this")
    redis_down_kill_after_s: float | None = Field(default=10.0, gt=0, description="Redis unreachable this long")
    flatten_deadline_s: float = Field(default=60.0, gt=0, description="flatten: passive, then IOC after this long")

    def flatten_urgency(self) -> Urgency:
        """Flattening quotes passively, steps inward from a twelfth of the deadline, then crosses."""
        d = self.flatten_deadline_s
        return Urgency(escalate_after_s=d / 12, step_every_s=d / 30, deadline_s=d)


class EngineConfig(Model):
    instance_id: str | None = Field(default=None, description="this process's name in leases; default host-pid")
    lease_ms: int = Field(default=3000, ge=300, description="instrument lease; a dead owner's lapse after this")
    account: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]+$", description="kill switch scope account:NAME")
    guards: GuardsConfig = GuardsConfig()
    order_rate_per_s: float = Field(default=10.0, gt=0, description="order actions per second per venue")
    heartbeat_ms: int = Field(default=1000, gt=0)
    summary_interval_s: float = Field(default=60.0, gt=0, description="period of the per-instrument summary event")
    kill_poll_ms: int = Field(default=500, gt=0, description="kill switch polling, a backup to pub/sub")


class MetricsConfig(Model):
    enabled: bool = False
    host: str = Field(default="127.0.0.1", description="bind address of the /metrics endpoint")
    port: int = Field(default=9108, ge=1, le=65535)


class LoggingConfig(Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Config(Model):
    mode: Literal["paper", "live"] = "paper"
    redis: RedisConfig = RedisConfig()
    venue: Annotated[Union[SimulatedVenueConfig, CcxtVenueConfig, ReplayVenueConfig], Field(discriminator="type")]
    credentials: Credentials | None = None
    portfolio: PortfolioConfig = PortfolioConfig()
    instruments: list[InstrumentConfig] = Field(min_length=1)
    engine: EngineConfig = EngineConfig()
    logging: LoggingConfig = LoggingConfig()
    metrics: MetricsConfig = MetricsConfig()

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        symbols = [i.symbol for i in self.instruments]
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"instruments: each symbol once (got {symbols})")
        missing = [s for s in symbols if s not in getattr(self.venue, "markets", {s: None for s in symbols})]
        if missing:
            raise ValueError(f"venue.markets: no market for instrument {', '.join(missing)}")
        if self.mode == "live":
            if self.credentials is None:
                raise ValueError("credentials: required when mode is live (api_key and secret as ${ENV_VAR})")
            if self.venue.type != "ccxt":
                raise ValueError(f"venue.type: live mode needs an exchange venue (ccxt); {self.venue.type!r} is paper only")
        return self

    @property
    def redis_url(self) -> str:
        """``redis.url``, overridden by ``$SCALEBOT_REDIS_URL``."""
        return os.environ.get(REDIS_URL_ENV) or self.redis.url


def load_config(path: str | Path) -> Config:
    """Read, resolve ``${ENV}`` references in, and validate a YAML config; raise ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"{path}{where}: malformed YAML ({problem})") from None
    except (RecursionError, ValueError) as exc:
        raise ConfigError(f"{path}: malformed YAML (nested too deeply or a value out of range: {type(exc).__name__})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level (got {type(raw).__name__})")
    problems: list[str] = []
    try:
        resolved = _resolve_env(raw, "", problems)
    except RecursionError:
        raise ConfigError(f"{path}: a YAML alias refers to itself, or the file nests too deeply") from None
    if problems:
        raise ConfigError("\n".join(problems))
    try:
        return Config.model_validate(resolved)
    except ValidationError as exc:
        raise ConfigError("\n".join([f"{path}: invalid configuration", *(_describe(e) for e in exc.errors())])) from None


def exposed_secrets(path: str | Path) -> list[str]:
    """Key paths of secrets written literally in a config file that others may read (group or
    world permissions): put them in the environment or a file (``${file:/path}``) instead."""
    path = Path(path)
    if path.stat().st_mode & 0o077 == 0:
        return []
    found: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                key = f"{where}.{k}" if where else str(k)
                literal = isinstance(v, str) and v and not _ENV_REF.fullmatch(v.strip())
                if k in _SECRET_KEYS and literal:
                    found.append(key)
                elif k == "url" and isinstance(v, str) and ("@" in v or "password=" in v) and not _ENV_REF.search(v):
                    found.append(key)
                walk(v, key)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")

    try:
        walk(yaml.safe_load(path.read_text()), "")
    except (OSError, yaml.YAMLError):
        return []
    return found


def _resolve_env(value: Any, path: str, problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_env(v, f"{path}.{k}" if path else str(k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if isinstance(value, str):
        def sub(match: re.Match[str]) -> str:
            if match.group("file"):
                try:
                    return Path(match.group("file")).read_text().strip()
                except OSError as exc:
                    problems.append(f"{path}: cannot read secret file {match.group('file')} ({exc.strerror})")
                    return ""
            name = match.group("env")
            if name not in os.environ:
                problems.append(f"{path}: environment variable {name} is not set (referenced as ${{{name}}})")
                return ""
            return os.environ[name]
        return _ENV_REF.sub(sub, value)
    return value


_TAGGED_UNIONS = {"policy", "venue"}
_UNION_TAGS = {*POLICY_TYPES, "simulated", "ccxt", "replay", "drawdown_scale", "cap"}
_SECRET_KEYS = {"api_key", "secret", "password"}


def _describe(error: dict[str, Any]) -> str:
    """One line: ``key.path[0].name: what was expected (got value)``."""
    loc = list(error["loc"])
    parts: list[str] = []
    for i, item in enumerate(loc):
        if i > 0 and (loc[i - 1] in _TAGGED_UNIONS or isinstance(loc[i - 1], int)) and item in _UNION_TAGS:
            continue  # pydantic names the union member; the user wrote only the key
        parts.append(f"[{item}]" if isinstance(item, int) else f".{item}" if parts else str(item))
    path = "".join(parts) or "(top level)"
    msg = error["msg"]
    kind = error["type"]
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind == "extra_forbidden":
        return f"{path}: unknown key (check the spelling)"
    if kind == "union_tag_invalid":
        ctx = error["ctx"]
        return f"{path}.type: unknown type (got {ctx['tag']!r}; expected one of {ctx['expected_tags']})"
    msg = msg.replace("Input should be", "must be").replace("Value error, ", "")
    secret = any(item in _SECRET_KEYS or item == "credentials" for item in loc)
    got = "***" if secret else repr(error.get("input"))
    if kind == "value_error" and not loc:
        return msg
    return f"{path}: {msg} (got {got})"
