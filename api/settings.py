"""Configuration from the environment (and an optional `.env`), checked once at start-up."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values

from sfu.config import RtcConfig, SfuConfig

Environment = Literal["development", "production"]

# Production must be given these; development invents or embeds what is missing.
REQUIRED_IN_PRODUCTION = (
    "DATABASE_URL",
    "JWT_ACCESS_SECRET",
    "JWT_REFRESH_SECRET",
    "SMTP_HOST",
    "SMTP_FROM",
)
MIN_SECRET_LENGTH = 32
# What .env.example holds where a deployment must put its own value (a secret, an address).
PLACEHOLDER = "CHANGE_ME"
DEFAULT_ROOM_IDLE_HIDE_MINUTES = 30
DEFAULT_TURN_CREDENTIAL_SECONDS = 24 * 3600
DEFAULT_DRAIN_SECONDS = 30.0
MAX_DRAIN_SECONDS = 3600.0
TURN_SCHEMES = ("turn:", "turns:")
LogFormat = Literal["json", "text"]
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# A year: "never hide" in practice, and far below what datetime arithmetic can hold.
MAX_ROOM_IDLE_HIDE_MINUTES = 525_600
# The spellings of this machine a browser may use for a development server.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")
TlsMode = Literal["none", "starttls", "tls"]
# The three modes by name, plus the booleans people write (true means STARTTLS).
SMTP_TLS_MODES: dict[str, TlsMode] = {
    "none": "none",
    "false": "none",
    "0": "none",
    "no": "none",
    "starttls": "starttls",
    "true": "starttls",
    "1": "starttls",
    "yes": "starttls",
    "tls": "tls",
}


class SettingsError(Exception):
    """The configuration cannot run; the message is one line for the operator."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    sender: str
    tls: TlsMode


@dataclass(frozen=True)
class TurnSettings:
    """TURN servers handed to signed-in clients with time-limited credentials (coturn's REST
    API scheme, `use-auth-secret`): `urls` are `turn:`/`turns:` URLs (TURN_URLS), `secret` the
    shared secret (TURN_SECRET), `credential_seconds` how long a credential stays valid
    (TURN_CREDENTIAL_SECONDS, default 24 h)."""

    urls: tuple[str, ...]
    secret: str
    credential_seconds: int = DEFAULT_TURN_CREDENTIAL_SECONDS


@dataclass(frozen=True)
class Settings:
    environment: Environment
    host: str
    port: int
    app_origin: str
    data_dir: Path
    database_url: str | None
    jwt_access_secret: str
    jwt_refresh_secret: str
    smtp: SmtpSettings | None
    mail_from: str
    sfu: SfuConfig = field(default_factory=SfuConfig)
    rate_limits: bool = True
    # An open public room empty for longer than this leaves the lobby's list.
    room_idle_hide: timedelta = timedelta(minutes=DEFAULT_ROOM_IDLE_HIDE_MINUTES)
    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    # None: no TURN servers are handed out (TURN_URLS unset).
    turn: TurnSettings | None = None
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (TRUSTED_PROXIES, CIDRs).
    trusted_proxies: tuple[IpNetwork, ...] = ()
    # After SIGTERM: how long rooms may take to empty before every call is closed.
    drain_seconds: float = DEFAULT_DRAIN_SECONDS
    # Bearer token for /metrics (METRICS_TOKEN); in production /metrics needs it.
    metrics_token: str | None = None
    # One JSON object per line in production, readable lines in development (LOG_FORMAT).
    log_format: LogFormat = "text"

    @property
    def rtc(self) -> RtcConfig:
        return self.sfu.rtc

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def secure_cookies(self) -> bool:
        return self.is_production or self.app_origin.startswith("https://")

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """Origins whose state-changing requests and sockets are accepted: `app_origin`, and in
        development with a loopback `app_origin` its other spelling on the same port, so
        http://127.0.0.1:8000 works as well as http://localhost:8000."""
        origin = urlsplit(self.app_origin)
        if self.is_production or origin.scheme != "http" or origin.hostname not in LOOPBACK_HOSTS:
            return (self.app_origin,)
        port = f":{origin.port}" if origin.port is not None else ""
        others = [f"http://{host}{port}" for host in LOOPBACK_HOSTS]
        return (self.app_origin, *(o for o in others if o != self.app_origin))


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> Settings:
    """Merge `.env` under the process environment (the environment wins) and validate."""
    values: dict[str, str] = {}
    dotenv_path = env_file if env_file is not None else Path(".env")
    if dotenv_path.is_file():
        values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return _from_values(values)


def _from_values(values: Mapping[str, str]) -> Settings:
    def get(name: str) -> str | None:
        value = values.get(name, "").strip()
        return value or None

    environment = get("GETHORY_ENV") or "development"
    if environment not in ("development", "production"):
        raise SettingsError(f"GETHORY_ENV must be development or production, not {environment!r}")
    production = environment == "production"
    if production:
        missing = [name for name in REQUIRED_IN_PRODUCTION if get(name) is None]
        if missing:
            raise SettingsError("refusing to start in production: missing " + ", ".join(missing))
        # .env.example's placeholders are public: a secret still holding one is known to all.
        unchanged = sorted(name for name, value in values.items() if PLACEHOLDER in value)
        if unchanged:
            raise SettingsError(
                f"refusing to start in production: replace {PLACEHOLDER} in " + ", ".join(unchanged)
            )
    data_dir = Path(get("DATA_DIR") or ".data")
    access_secret = get("JWT_ACCESS_SECRET")
    refresh_secret = get("JWT_REFRESH_SECRET")
    if access_secret is None or refresh_secret is None:
        generated = _development_secrets(data_dir)
        access_secret = access_secret or generated["JWT_ACCESS_SECRET"]
        refresh_secret = refresh_secret or generated["JWT_REFRESH_SECRET"]
    for name, secret in (
        ("JWT_ACCESS_SECRET", access_secret),
        ("JWT_REFRESH_SECRET", refresh_secret),
    ):
        if production and len(secret) < MIN_SECRET_LENGTH:
            raise SettingsError(f"{name} must be at least {MIN_SECRET_LENGTH} characters")
    if access_secret == refresh_secret:
        raise SettingsError("JWT_ACCESS_SECRET and JWT_REFRESH_SECRET must differ")
    rate_limits = (get("RATE_LIMITS") or "on").lower()
    if rate_limits not in ("on", "off"):
        raise SettingsError(f"RATE_LIMITS must be on or off, not {rate_limits!r}")
    if production and rate_limits == "off":
        raise SettingsError("RATE_LIMITS=off is for development and load tests only")
    mail_from = get("SMTP_FROM") or "Gethory <no-reply@localhost>"
    port = _int(get("PORT") or "8000", "PORT")
    log_format = (get("LOG_FORMAT") or ("json" if production else "text")).lower()
    if log_format not in ("json", "text"):
        raise SettingsError(f"LOG_FORMAT must be json or text, not {log_format!r}")
    metrics_token = get("METRICS_TOKEN")
    if production and metrics_token is not None and len(metrics_token) < MIN_SECRET_LENGTH:
        raise SettingsError(f"METRICS_TOKEN must be at least {MIN_SECRET_LENGTH} characters")
    try:
        rtc = RtcConfig.from_env(values)
    except ValueError as error:  # e.g. an RTC_UDP_PORT that is no port number
        raise SettingsError(str(error)) from None
    return Settings(
        environment="production" if production else "development",
        # Containers need every interface; a development machine keeps to loopback.
        host=get("HOST") or ("0.0.0.0" if production else "127.0.0.1"),
        port=port,
        # By default the address `make run` prints, on whatever port it listens.
        app_origin=(get("APP_ORIGIN") or f"http://localhost:{port}").rstrip("/"),
        data_dir=data_dir,
        database_url=get("DATABASE_URL"),
        jwt_access_secret=access_secret,
        jwt_refresh_secret=refresh_secret,
        smtp=_smtp(get, mail_from),
        mail_from=mail_from,
        sfu=SfuConfig(rtc=rtc),
        rate_limits=rate_limits == "on",
        room_idle_hide=timedelta(minutes=_room_idle_hide_minutes(get("ROOM_IDLE_HIDE_MINUTES"))),
        turn=_turn(get, production),
        trusted_proxies=_trusted_proxies(get("TRUSTED_PROXIES")),
        drain_seconds=_drain_seconds(get("DRAIN_SECONDS")),
        metrics_token=metrics_token,
        log_format="json" if log_format == "json" else "text",
    )


def _turn(get: Callable[[str], str | None], production: bool) -> TurnSettings | None:
    urls = tuple(u.strip() for u in (get("TURN_URLS") or "").split(",") if u.strip())
    secret = get("TURN_SECRET")
    if not urls:
        return None
    for url in urls:
        if not url.startswith(TURN_SCHEMES) or len(url) > 512:
            raise SettingsError(f"TURN_URLS: {url[:80]!r} is not a turn: or turns: URL")
    if secret is None:
        raise SettingsError("TURN_URLS is set but TURN_SECRET is not (coturn's use-auth-secret)")
    if production and len(secret) < MIN_SECRET_LENGTH:
        raise SettingsError(f"TURN_SECRET must be at least {MIN_SECRET_LENGTH} characters")
    seconds = _int(
        get("TURN_CREDENTIAL_SECONDS") or str(DEFAULT_TURN_CREDENTIAL_SECONDS),
        "TURN_CREDENTIAL_SECONDS",
    )
    if not 60 <= seconds <= 7 * 24 * 3600:
        raise SettingsError(f"TURN_CREDENTIAL_SECONDS must be 60 to 604800, not {seconds}")
    return TurnSettings(urls=urls, secret=secret, credential_seconds=seconds)


def _trusted_proxies(given: str | None) -> tuple[IpNetwork, ...]:
    networks: list[IpNetwork] = []
    for part in (given or "").split(","):
        if not part.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise SettingsError(f"TRUSTED_PROXIES: {part.strip()!r} is not a CIDR") from None
    return tuple(networks)


def _drain_seconds(given: str | None) -> float:
    if given is None:
        return DEFAULT_DRAIN_SECONDS
    try:
        seconds = float(given)
    except ValueError:
        raise SettingsError(f"DRAIN_SECONDS must be a number, not {given!r}") from None
    if not 0 <= seconds <= MAX_DRAIN_SECONDS:
        raise SettingsError(f"DRAIN_SECONDS must be 0 to {MAX_DRAIN_SECONDS:.0f}, not {given}")
    return seconds


def _room_idle_hide_minutes(given: str | None) -> int:
    if given is None:
        return DEFAULT_ROOM_IDLE_HIDE_MINUTES
    minutes = _int(given, "ROOM_IDLE_HIDE_MINUTES")
    if not 1 <= minutes <= MAX_ROOM_IDLE_HIDE_MINUTES:
        raise SettingsError(
            f"ROOM_IDLE_HIDE_MINUTES must be 1 to {MAX_ROOM_IDLE_HIDE_MINUTES} (a year),"
            f" not {minutes}"
        )
    return minutes


def _smtp(get: Callable[[str], str | None], mail_from: str) -> SmtpSettings | None:
    host = get("SMTP_HOST")
    if host is None:
        return None
    given = (get("SMTP_TLS") or "starttls").lower()
    tls = SMTP_TLS_MODES.get(given)
    if tls is None:
        raise SettingsError(f"SMTP_TLS must be none, starttls or tls, not {given!r}")
    default_port = {"none": 25, "starttls": 587, "tls": 465}[tls]
    return SmtpSettings(
        host=host,
        port=_int(get("SMTP_PORT") or str(default_port), "SMTP_PORT"),
        username=get("SMTP_USERNAME"),
        password=get("SMTP_PASSWORD"),
        sender=mail_from,
        tls=tls,
    )


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {text!r}") from None


def _development_secrets(data_dir: Path) -> dict[str, str]:
    """Generated once and kept, so development logins survive a restart."""
    path = data_dir / "secrets.json"
    if path.is_file():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    data_dir.mkdir(parents=True, exist_ok=True)
    generated = {
        "JWT_ACCESS_SECRET": secrets.token_urlsafe(48),
        "JWT_REFRESH_SECRET": secrets.token_urlsafe(48),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(generated, handle)
    return generated
