"""Typed, frozen settings: ``settings.toml`` + ``GREENLIGHT_*`` environment overrides.

Secrets never live here: they come from the environment or a 0600 secrets file
(see :mod:`greenlight.core.secrets`). Any problem is reported with the exact key path.
"""

from __future__ import annotations

import json
import os
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from greenlight.core.modes import Mode, mode_mismatch, url_mismatch
from greenlight.core.secrets import SECRET_NAMES
from greenlight.core.settings_backtest import BacktestSettings
from greenlight.core.settings_base import Section
from greenlight.core.settings_decision import AgentsSettings as AgentsSettings
from greenlight.core.settings_decision import FundingSettings as FundingSettings
from greenlight.core.settings_decision import FusionSettings as FusionSettings
from greenlight.core.settings_decision import NewsSettings as NewsSettings
from greenlight.core.settings_decision import VolatilitySettings as VolatilitySettings

TIMEFRAMES_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}

REPO_ROOT = Path(__file__).resolve().parents[2]


class SettingsError(ValueError):
    """Settings could not be loaded; the message names the key path and what is allowed."""


class GeneralSettings(Section):
    mode: Mode = "paper"  # paper: sim or paper · testnet: binance_testnet only · live: binance only
    timezone: str = "UTC"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class DatabaseSettings(Section):
    url: str = ""
    data_dir: str = ""
    pool_size: int = Field(5, ge=1, le=100)


class PaperVenueSettings(Section):
    """The paper venue (``greenlight paper``): the simulator's exchange side on loopback,
    priced by the public market data of ``market_url`` (Binance, its testnet, or another
    ``greenlight sim``); its records live in PostgreSQL schema ``schema``."""

    host: Literal["127.0.0.1", "::1", "localhost"] = "127.0.0.1"
    port: int = Field(8769, ge=0, le=65535)
    market_url: str = "https://api.binance.com"  # public REST of the market-data source
    market_ws_url: str = ""  # its streams; "" derives them from market_url
    db_schema: str = Field("paper", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    start_balance_usdt: Decimal = Field(Decimal("10000"), gt=0)
    commission_rate: Decimal = Field(Decimal("0.001"), ge=0, lt=Decimal("0.01"))
    # Taker fills slip against the order: bps of the price plus a fraction of the high-low
    # range of the last closed market.timeframe candle (the backtester's model).
    slippage_bps: Decimal = Field(Decimal(1), ge=0, le=100)
    slippage_range_fraction: Decimal = Field(Decimal("0.02"), ge=0, le=1)
    history_candles: int = Field(1000, ge=1, le=1000)  # per stream, fetched at start
    clock_poll_s: float = Field(1.0, gt=0, le=60)  # the source's server time, this often

    @field_validator("market_url", "market_ws_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError(f"{v!r} is not an http(s):// or ws(s):// URL")
        return v.rstrip("/")

    @field_validator("db_schema")
    @classmethod
    def _schema(cls, v: str) -> str:
        if v == "public":
            raise ValueError("the paper venue's records never go to the default schema 'public'")
        return v


class VenueSettings(Section):
    name: Literal["sim", "paper", "binance", "binance_testnet"] = "sim"
    spot_rest_url: str = ""
    spot_ws_url: str = ""
    futures_rest_url: str = ""
    futures_ws_url: str = ""
    recv_window_ms: int = Field(2000, ge=100, le=60000)  # also bounds an unknown outcome
    paper: PaperVenueSettings = PaperVenueSettings()


class SimSettings(Section):
    host: Literal["127.0.0.1", "::1", "localhost"] = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    data_file: str = "data/BTCUSDT-15m-2019-2020.csv.gz"
    history_candles: int = Field(600, ge=0)
    start_index: int = Field(0, ge=0)
    candles_per_second: float = Field(2.0, gt=0)
    updates_per_candle: int = Field(2, ge=0, le=20)
    max_candles: int = Field(0, ge=0)  # 0: replay the whole file
    start_balance_usdt: Decimal = Field(Decimal("10000"), gt=0)
    futures_data_file: str = "data/XRPUSDT-perp-5m-futures.csv"
    futures_mark_file: str = "data/XRPUSDT-perp-1h-mark.csv"
    futures_funding_file: str = "data/XRPUSDT-perp-8h-funding_rate.csv"
    futures_start_balance_usdt: Decimal = Field(Decimal("10000"), gt=0)
    clock: Literal["now", "historical"] = "now"  # replay on today's calendar, or file times


class MarketSettings(Section):
    symbols: tuple[str, ...] = ("BTCUSDT",)
    futures_symbols: tuple[str, ...] = ()  # USD-M perpetuals, e.g. ("XRPUSDT",)
    timeframe: str = "15m"
    sub_timeframe: str = ""  # finer interval for micro-BOS confirmation, e.g. "5m"; "" = none
    warmup_candles: int = Field(300, ge=1, le=1000)

    @field_validator("symbols", "futures_symbols")
    @classmethod
    def _symbols(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for s in v:
            if not s.isalnum() or not s.isupper():
                raise ValueError(
                    f"symbol {s!r} must be upper-case letters and digits, e.g. BTCUSDT"
                )
        return v

    @field_validator("timeframe")
    @classmethod
    def _tf(cls, v: str) -> str:
        if v not in TIMEFRAMES_MS:
            raise ValueError(f"timeframe {v!r} is not one of {', '.join(TIMEFRAMES_MS)}")
        return v

    @model_validator(mode="after")
    def _sub_tf(self) -> MarketSettings:
        sub = self.sub_timeframe
        if sub == "":
            return self
        if sub not in TIMEFRAMES_MS:
            raise ValueError(f"sub_timeframe {sub!r} is not one of {', '.join(TIMEFRAMES_MS)}")
        fine, coarse = TIMEFRAMES_MS[sub], TIMEFRAMES_MS[self.timeframe]
        if fine >= coarse or coarse % fine:
            raise ValueError(
                f"sub_timeframe {sub!r} must be finer than timeframe {self.timeframe!r}"
                " and divide it"
            )
        return self


class FuturesSettings(Section):
    leverage_cap: int = Field(3, ge=1, le=20)
    margin_type: Literal["ISOLATED", "CROSSED"] = "ISOLATED"


class StrategySettings(Section):
    ema_fast: int = Field(20, ge=2)
    ema_mid: int = Field(50, ge=2)
    ema_slow: int = Field(200, ge=2)
    rsi_period: int = Field(14, ge=2)
    rsi_low: float = Field(40.0, ge=0, le=100)
    rsi_high: float = Field(60.0, ge=0, le=100)
    macd_fast: int = Field(12, ge=2)
    macd_slow: int = Field(26, ge=2)
    macd_signal: int = Field(9, ge=1)
    atr_period: int = Field(14, ge=2)
    atr_stop_mult: float = Field(1.5, gt=0)
    take_profit_r: tuple[float, ...] = (1.5, 2.0, 3.0)
    allow_short: bool = False
    # Whose signals become decisions: a plugin name (built in: fusion, retest, starter).
    agent: str = Field("fusion", pattern=r"^[a-z][a-z0-9_]{0,39}$")

    @model_validator(mode="after")
    def _check(self) -> StrategySettings:
        if not self.ema_fast < self.ema_mid < self.ema_slow:
            raise ValueError("ema_fast < ema_mid < ema_slow is required")
        if not self.macd_fast < self.macd_slow:
            raise ValueError("macd_fast < macd_slow is required")
        if self.rsi_low >= self.rsi_high:
            raise ValueError("rsi_low must be below rsi_high")
        if not self.take_profit_r or any(r <= 0 for r in self.take_profit_r):
            raise ValueError("take_profit_r needs at least one positive R multiple")
        if list(self.take_profit_r) != sorted(self.take_profit_r):
            raise ValueError("take_profit_r must be in ascending order")
        return self


class SmcSettings(Section):
    """Causal SMC stage (see ``engine.smc.engine.SmcParams``)."""

    swing_method: Literal["pivot", "zigzag"] = "pivot"
    swing_length: int = Field(5, ge=1, le=100)
    zigzag_atr_mult: float = Field(3.0, gt=0, le=50)
    atr_period: int = Field(14, ge=2, le=1000)
    ob_expiry_bars: int = Field(96, ge=1, le=100_000)
    fvg_expiry_bars: int = Field(192, ge=1, le=100_000)
    ob_lookback_bars: int = Field(32, ge=1, le=1000)
    zone_capacity: int = Field(64, ge=2, le=1024)
    micro_swing_length: int = Field(3, ge=1, le=100)  # pivot bars N on market.sub_timeframe


class RetestSettings(Section):
    """Retest analyzer (see ``engine.retest.analyzer.RetestParams``)."""

    wait_bars: int = Field(8, ge=1, le=1000)
    tol_atr: float = Field(0.25, ge=0, le=10)
    sl_atr: float = Field(0.5, gt=0, le=10)
    rsi_low: float = Field(40.0, ge=0, le=100)
    rsi_high: float = Field(55.0, ge=0, le=100)
    require_momentum: bool = True
    ttl_bars: int = Field(4, ge=1, le=1000)

    @model_validator(mode="after")
    def _check(self) -> RetestSettings:
        if self.rsi_low >= self.rsi_high:
            raise ValueError("rsi_low must be below rsi_high")
        return self


class RegimeSettings(Section):
    """Regime classifier (see ``engine.regime.classifier.RegimeParams``); percentiles are
    fractions in [0, 1]."""

    window: int = Field(500, ge=2, le=100_000)
    min_periods: int = Field(100, ge=1, le=100_000)
    adx_trend: float = Field(25.0, gt=0, le=100)
    shock_pct: float = Field(0.95, gt=0, le=1)
    trend_bbw_pct: float = Field(0.30, ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> RegimeSettings:
        if self.min_periods > self.window:
            raise ValueError("min_periods must not exceed window")
        return self


class RiskSettings(Section):
    risk_per_trade: Decimal = Field(Decimal("0.005"), gt=0, le=Decimal("0.05"))
    decision_ttl_seconds: int = Field(3600, ge=5, le=86400)  # cap; signals carry ttl_bars
    max_open_positions: int = Field(1, ge=1, le=100)
    # Price slippage assumed on the entry and on the stop's exit (fraction of price); sizing
    # adds it to the fees (router.taker_fee_rate) so the loss at the stop is the risk budget.
    slippage_rate: Decimal = Field(Decimal("0.0002"), ge=0, lt=Decimal("0.01"))
    # Skip setups whose round-trip costs at the stop exceed this fraction of R (price risk).
    max_cost_fraction_of_r: Decimal = Field(Decimal("0.25"), gt=0, le=10)
    # Open risk (loss at the stop, costs in) of pending/open decisions, fraction of equity.
    max_symbol_risk: Decimal = Field(Decimal("0.01"), gt=0, le=1)
    max_total_risk: Decimal = Field(Decimal("0.02"), gt=0, le=1)
    # Realized loss of the UTC day at which the engine stops proposing (fraction of equity).
    daily_loss_cap: Decimal = Field(Decimal("0.02"), gt=0, le=1)


class RouterSettings(Section):
    host: Literal["127.0.0.1", "::1", "localhost"] = "127.0.0.1"
    port: int = Field(8766, ge=0, le=65535)
    request_timeout_s: float = Field(5.0, gt=0, le=60)
    # The router's own bracket check: loss at the stop (fees included) may exceed
    # risk.risk_per_trade × equity by at most this fraction.
    risk_tolerance: Decimal = Field(Decimal("0.10"), ge=0, le=1)
    # Taker commission assumed on entry and exit (the engine's sizing and the router's check).
    taker_fee_rate: Decimal = Field(Decimal("0.001"), ge=0, lt=Decimal("0.01"))
    reconcile_interval_s: float = Field(15.0, gt=0, le=3600)  # live decisions vs the venue
    routed_timeout_s: float = Field(60.0, gt=0, le=86400)  # ROUTED, nothing on venue → FAILED


class GuardSettings(Section):
    """Automatic kill-switch thresholds, applied by the router."""

    error_burst: int = Field(5, ge=1, le=1000)  # venue errors within error_window_s → halt
    error_window_s: float = Field(60.0, gt=0, le=3600)
    user_stream_down_s: float = Field(30.0, gt=0, le=3600)  # user stream down longer → halt
    daily_drawdown_limit: Decimal = Field(Decimal("0.05"), gt=0, lt=1)  # fraction of day open
    stale_timeframes: int = Field(3, ge=1, le=100)  # no candle for this many timeframes → halt


class AccessUser(Section):
    channel: Literal["console", "telegram", "line"]
    user_id: str
    role: Literal["viewer", "trader", "admin"]
    name: str = ""


class TelegramSettings(Section):
    base_url: str = "https://api.telegram.org/bot"
    chat_ids: tuple[int, ...] = ()
    poll_timeout_s: int = Field(10, ge=0, le=50)
    mode: Literal["polling", "webhook"] = "polling"
    # Webhook mode: Telegram posts to webhook_url (public HTTPS, your TLS proxy), which
    # forwards to webhook_host:webhook_port + webhook_path. The secret header is derived from
    # the bot token.
    webhook_url: str = ""
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(8767, ge=0, le=65535)
    webhook_path: str = "/telegram/webhook"

    @model_validator(mode="after")
    def _webhook(self) -> TelegramSettings:
        if self.mode == "webhook" and not self.webhook_url.startswith("https://"):
            raise ValueError("telegram.mode = 'webhook' needs webhook_url = 'https://…'")
        return self


# Alert events (what chats watch and ``/mute`` names): market events on a watched stream,
# then trade, safety and reporting events for every chat. bot.alerts.events builds on these.
MARKET_EVENTS = ("bos", "choch", "ob", "fvg", "retest", "regime")
TEAM_EVENTS = ("fill", "stop", "tp", "closed", "kill", "guard", "error", "info", "summary")
LINE_EVENTS = ("confirmation", "outcome", *MARKET_EVENTS, *TEAM_EVENTS)


class LineSettings(Section):
    """LINE Messaging API channel (the channel secret and access token are secrets)."""

    api_base_url: str = "https://api.line.me"
    to_ids: tuple[str, ...] = ()  # user / group ids that get confirmations and team alerts
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(8768, ge=0, le=65535)
    webhook_path: str = "/line/webhook"
    public_base_url: str = ""  # https://… of the TLS proxy in front of webhook_host:port
    image_ttl_s: int = Field(7 * 86400, ge=60, le=30 * 86400)
    reply_window_s: float = Field(50.0, ge=0, le=60)  # a reply token older than this: push
    # Which events go to LINE: pushes count against the plan's monthly quota.
    events: tuple[str, ...] = ("confirmation", "outcome", "kill", "error")

    @field_validator("events")
    @classmethod
    def _events(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for e in v:
            if e not in LINE_EVENTS:
                raise ValueError(f"event {e!r} is not one of {', '.join(LINE_EVENTS)}")
        return v

    @field_validator("public_base_url")
    @classmethod
    def _https(cls, v: str) -> str:
        if v and not v.startswith("https://"):
            raise ValueError("public_base_url must be https:// (LINE fetches images over HTTPS)")
        return v.rstrip("/")


class BotSettings(Section):
    channels: tuple[Literal["console", "telegram", "line"], ...] = ("console",)
    chart_dir: str = ""  # empty: var/charts in the repository
    chart_candles: int = Field(150, ge=20, le=1000)
    users: tuple[AccessUser, ...] = (AccessUser(channel="console", user_id="local", role="admin"),)
    summary_hour: int = Field(21, ge=-1, le=23)  # daily summary at this hour (-1: none)
    alert_group_window_s: float = Field(0.3, ge=0, le=10)  # a burst of alerts → one message
    alert_max_age_s: float = Field(3600.0, ge=10, le=7 * 86400)  # older undelivered: dropped


class AuditSettings(Section):
    """Where the audit chain's head is anchored outside the database, and how often."""

    anchor_file: str = ""  # empty: audit-anchors.jsonl next to the embedded data directory
    anchor_interval_s: float = Field(86400.0, ge=1, le=7 * 86400)  # plus one at shutdown


class MetricsSettings(Section):
    """Where each process serves ``/metrics``, ``/healthz`` and ``/readyz`` (0: not served)."""

    host: str = "127.0.0.1"  # loopback unless configured otherwise (compose shares one netns)
    engine_port: int = Field(9310, ge=0, le=65535)
    bot_port: int = Field(9311, ge=0, le=65535)
    router_port: int = Field(9312, ge=0, le=65535)
    sim_port: int = Field(9313, ge=0, le=65535)
    paper_port: int = Field(9314, ge=0, le=65535)


class LogsSettings(Section):
    """Log lines: structlog JSON (``auto``: human-readable when stderr is a terminal), on
    stderr and, with ``dir``, one ``<process>.jsonl`` file per process (read by
    ``greenlight trace``)."""

    format: Literal["auto", "json", "console"] = "auto"
    dir: str = ""  # empty: var/log in the repository
    stderr_level: Literal["", "DEBUG", "INFO", "WARNING", "ERROR"] = ""  # "": general.log_level


class Settings(Section):
    general: GeneralSettings = GeneralSettings()
    database: DatabaseSettings = DatabaseSettings()
    venue: VenueSettings = VenueSettings()
    sim: SimSettings = SimSettings()
    market: MarketSettings = MarketSettings()
    futures: FuturesSettings = FuturesSettings()
    strategy: StrategySettings = StrategySettings()
    smc: SmcSettings = SmcSettings()
    retest: RetestSettings = RetestSettings()
    regime: RegimeSettings = RegimeSettings()
    risk: RiskSettings = RiskSettings()
    router: RouterSettings = RouterSettings()
    guards: GuardSettings = GuardSettings()
    bot: BotSettings = BotSettings()
    telegram: TelegramSettings = TelegramSettings()
    line: LineSettings = LineSettings()
    audit: AuditSettings = AuditSettings()
    metrics: MetricsSettings = MetricsSettings()
    logs: LogsSettings = LogsSettings()
    news: NewsSettings = NewsSettings()
    funding: FundingSettings = FundingSettings()
    volatility: VolatilitySettings = VolatilitySettings()
    fusion: FusionSettings = FusionSettings()
    agents: AgentsSettings = AgentsSettings()
    backtest: BacktestSettings = BacktestSettings()

    @model_validator(mode="after")
    def _mode_governs(self) -> Settings:
        v = self.venue
        urls = {
            "venue.spot_rest_url": v.spot_rest_url,
            "venue.spot_ws_url": v.spot_ws_url,
            "venue.futures_rest_url": v.futures_rest_url,
            "venue.futures_ws_url": v.futures_ws_url,
        }
        problem = mode_mismatch(self.general.mode, v.name) or url_mismatch(self.general.mode, urls)
        if problem:
            raise ValueError(problem)
        if v.name == "paper" and self.market.futures_symbols:
            raise ValueError(
                "venue.name = 'paper' trades spot only: leave market.futures_symbols empty "
                f"(got {list(self.market.futures_symbols)}), or use venue.name = 'sim' for USD-M"
            )
        return self

    @property
    def tf_ms(self) -> int:
        """Length of the trading timeframe in milliseconds."""
        return TIMEFRAMES_MS[self.market.timeframe]

    def resolve_path(self, p: str) -> Path:
        """Resolve a settings path relative to the repository root."""
        path = Path(p)
        return path if path.is_absolute() else REPO_ROOT / path


def _leaf_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """Map ``GREENLIGHT_SECTION_KEY`` names to key paths for every settable leaf."""
    out: dict[str, tuple[str, ...]] = {}
    for name, field in model.model_fields.items():
        ann = field.annotation
        path = (*prefix, name)
        if isinstance(ann, type) and issubclass(ann, Section):
            out.update(_leaf_paths(ann, path))
        else:
            out["GREENLIGHT_" + "_".join(path).upper()] = path
    return out


ENV_KEYS = _leaf_paths(Settings)
_NON_SETTING_ENV = {
    "GREENLIGHT_SETTINGS",
    "GREENLIGHT_SECRETS_FILE",
    "GREENLIGHT_SUPERVISOR_PID",  # set by a supervising ``up``/``demo`` (greenlight.lifeline)
    *SECRET_NAMES,
}


def _env_value(raw: str) -> Any:
    """Environment values: JSON when they parse as a list/object, else the plain string."""
    text = raw.strip()
    if text.startswith(("[", "{")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"cannot parse JSON value {raw!r}: {exc}") from exc
    return raw


def _format_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid settings ({source}):"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"])
        if not path:  # a rule across sections: the message names its keys
            lines.append(f"  {err['msg'].removeprefix('Value error, ')}")
        elif err["type"] == "extra_forbidden":
            lines.append(f"  {path}: unknown key")
        else:
            lines.append(f"  {path}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def _secret_in_file(data: dict[str, Any], path: str = "") -> str | None:
    for key, value in data.items():
        here = f"{path}.{key}" if path else key
        lowered = key.lower()
        if any(w in lowered for w in ("secret", "token", "password", "api_secret")) or lowered in {
            "api_key_secret",
        }:
            return here
        if isinstance(value, dict):
            found = _secret_in_file(value, here)
            if found:
                return found
    return None


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Load settings from a TOML file (default ``settings.toml``) plus environment overrides.

    Raises :class:`SettingsError` naming the key path for unknown keys, wrong types,
    impossible values, and secrets placed in the file.
    """
    environ = dict(os.environ if env is None else env)
    file = Path(path) if path else Path(environ.get("GREENLIGHT_SETTINGS", "") or "settings.toml")
    if not file.is_absolute() and not file.exists() and path is None:
        file = REPO_ROOT / "settings.toml"
    data: dict[str, Any] = {}
    if path is not None and not file.exists():
        raise SettingsError(f"settings file {file} does not exist")
    if file.exists():
        try:
            data = tomllib.loads(file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{file}: not valid TOML: {exc}") from exc
        leaked = _secret_in_file(data)
        if leaked:
            raise SettingsError(
                f"{file}: key {leaked!r} looks like a secret; secrets are only read from the "
                "environment or a 0600 secrets file (GREENLIGHT_SECRETS_FILE)"
            )
    for name, raw in environ.items():
        if not name.startswith("GREENLIGHT_") or name in _NON_SETTING_ENV:
            continue
        if name not in ENV_KEYS:
            raise SettingsError(f"environment variable {name} is not a known setting")
        section, *rest = ENV_KEYS[name]
        node = data.setdefault(section, {})
        for key in rest[:-1]:
            node = node.setdefault(key, {})
        node[rest[-1]] = _env_value(raw)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_format_error(exc, str(file))) from exc
