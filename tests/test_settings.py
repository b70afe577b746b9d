"""Configuration: development invents what it may, production refuses to start without secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from api.settings import SettingsError, load_settings

STRONG = "s" * 40
PRODUCTION = {
    "GETHORY_ENV": "production",
    "DATABASE_URL": "mongodb://db.internal:27017/gethory",
    "JWT_ACCESS_SECRET": "a" * 40,
    "JWT_REFRESH_SECRET": "r" * 40,
    "SMTP_HOST": "smtp.example.com",
    "SMTP_FROM": "Gethory <no-reply@example.com>",
}


def test_development_generates_secrets_once_and_keeps_them(tmp_path: Path) -> None:
    first = load_settings({"DATA_DIR": str(tmp_path)}, env_file=tmp_path / "none")
    second = load_settings({"DATA_DIR": str(tmp_path)}, env_file=tmp_path / "none")
    assert first.jwt_access_secret == second.jwt_access_secret
    assert first.jwt_access_secret != first.jwt_refresh_secret
    assert oct((tmp_path / "secrets.json").stat().st_mode & 0o777) == "0o600"
    assert first.database_url is None and first.smtp is None
    assert (first.host, first.port) == ("127.0.0.1", 8000)
    assert first.app_origin == "http://localhost:8000"


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=9000\nAPP_ORIGIN=https://voice.example.com/\nSMTP_HOST=mail\n")
    settings = load_settings({"DATA_DIR": str(tmp_path), "PORT": "9100"}, env_file=env_file)
    assert settings.port == 9100
    assert settings.app_origin == "https://voice.example.com"
    assert settings.smtp is not None and settings.smtp.port == 587
    assert settings.secure_cookies


def test_production_with_everything_starts() -> None:
    settings = load_settings(PRODUCTION, env_file=Path("/nonexistent"))
    assert settings.is_production and settings.secure_cookies
    assert settings.host == "0.0.0.0"


@pytest.mark.parametrize("missing", ["DATABASE_URL", "JWT_ACCESS_SECRET", "SMTP_HOST"])
def test_production_refuses_to_start_without(missing: str) -> None:
    environ = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(SettingsError, match=f"missing {missing}"):
        load_settings(environ, env_file=Path("/nonexistent"))


def test_production_refuses_weak_or_equal_secrets() -> None:
    with pytest.raises(SettingsError, match="at least 32"):
        load_settings(PRODUCTION | {"JWT_ACCESS_SECRET": "short"}, env_file=Path("/nonexistent"))
    same = PRODUCTION | {"JWT_ACCESS_SECRET": STRONG, "JWT_REFRESH_SECRET": STRONG}
    with pytest.raises(SettingsError, match="must differ"):
        load_settings(same, env_file=Path("/nonexistent"))


def test_rate_limits_can_be_switched_off_only_in_development(tmp_path: Path) -> None:
    environ = {"DATA_DIR": str(tmp_path), "RATE_LIMITS": "off"}
    assert load_settings(environ, env_file=tmp_path / "x").rate_limits is False
    assert load_settings({"DATA_DIR": str(tmp_path)}, env_file=tmp_path / "x").rate_limits
    with pytest.raises(SettingsError, match="development"):
        load_settings(PRODUCTION | {"RATE_LIMITS": "off"}, env_file=Path("/nonexistent"))


def test_bad_values_are_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="PORT"):
        load_settings({"DATA_DIR": str(tmp_path), "PORT": "eighty"}, env_file=tmp_path / "x")
    with pytest.raises(SettingsError, match="GETHORY_ENV"):
        load_settings({"GETHORY_ENV": "staging"}, env_file=tmp_path / "x")


def test_server_process_refuses_production_without_secrets(tmp_path: Path) -> None:
    environ = {"PATH": os.environ["PATH"], "GETHORY_ENV": "production"}
    result = subprocess.run(
        [sys.executable, "-m", "api"],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == (
        "gethory: refusing to start in production: missing DATABASE_URL, JWT_ACCESS_SECRET, "
        "JWT_REFRESH_SECRET, SMTP_HOST, SMTP_FROM"
    )


def test_rooms_idle_for_longer_than_the_setting_leave_the_lobby(tmp_path: Path) -> None:
    base = {"DATA_DIR": str(tmp_path)}
    default = load_settings(base, env_file=tmp_path / "none")
    assert default.room_idle_hide == timedelta(minutes=30)
    given = load_settings(base | {"ROOM_IDLE_HIDE_MINUTES": "90"}, env_file=tmp_path / "none")
    assert given.room_idle_hide == timedelta(minutes=90)
    # 10^10 minutes once passed here and made every lobby listing fail (datetime overflow).
    for bad in ("0", "-5", "ten", "525601", "10000000000"):
        with pytest.raises(SettingsError, match="ROOM_IDLE_HIDE_MINUTES"):
            load_settings(base | {"ROOM_IDLE_HIDE_MINUTES": bad}, env_file=tmp_path / "none")


def test_development_accepts_both_loopback_spellings(tmp_path: Path) -> None:
    base = {"DATA_DIR": str(tmp_path)}
    default = load_settings(base | {"PORT": "8123"}, env_file=tmp_path / "none")
    assert default.app_origin == "http://localhost:8123", "the default follows PORT"
    assert default.allowed_origins == ("http://localhost:8123", "http://127.0.0.1:8123")
    numeric = load_settings(base | {"APP_ORIGIN": "http://127.0.0.1:9000"}, tmp_path / "none")
    assert numeric.allowed_origins == ("http://127.0.0.1:9000", "http://localhost:9000")
    for origin in ("https://localhost:8443", "http://voice.example.com", "http://192.168.1.5:8000"):
        only = load_settings(base | {"APP_ORIGIN": origin}, env_file=tmp_path / "none")
        assert only.allowed_origins == (origin,)
    production = load_settings(
        PRODUCTION | {"APP_ORIGIN": "http://localhost:8000"}, env_file=tmp_path / "none"
    )
    assert production.allowed_origins == ("http://localhost:8000",)


NO_FILE = Path("/nonexistent")


def test_turn_needs_its_secret_and_production_needs_a_strong_one(tmp_path: Path) -> None:
    turn = {"TURN_URLS": "turn:turn.example.com:3478?transport=udp, turns:turn.example.com:5349"}
    with pytest.raises(SettingsError, match="TURN_SECRET"):
        load_settings(PRODUCTION | turn, env_file=NO_FILE)
    with pytest.raises(SettingsError, match="TURN_SECRET"):
        load_settings({"DATA_DIR": str(tmp_path)} | turn, env_file=NO_FILE)
    with pytest.raises(SettingsError, match="TURN_SECRET must be at least 32"):
        load_settings(PRODUCTION | turn | {"TURN_SECRET": "weak"}, env_file=NO_FILE)
    settings = load_settings(PRODUCTION | turn | {"TURN_SECRET": STRONG}, env_file=NO_FILE)
    assert settings.turn is not None
    assert settings.turn.urls == (
        "turn:turn.example.com:3478?transport=udp",
        "turns:turn.example.com:5349",
    )
    assert settings.turn.credential_seconds == 24 * 3600
    assert load_settings(PRODUCTION | {"TURN_SECRET": STRONG}, env_file=NO_FILE).turn is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TURN_URLS", "stun:stun.example.com"),
        ("TURN_URLS", "https://turn.example.com"),
        ("TURN_CREDENTIAL_SECONDS", "59"),
        ("TURN_CREDENTIAL_SECONDS", "a day"),
        ("TRUSTED_PROXIES", "10.0.0.0/8, caddy"),
        ("TRUSTED_PROXIES", "300.1.1.1"),
        ("DRAIN_SECONDS", "-1"),
        ("DRAIN_SECONDS", "nan"),
        ("DRAIN_SECONDS", "soon"),
        ("LOG_FORMAT", "xml"),
    ],
)
def test_bad_deployment_values_are_named(name: str, value: str) -> None:
    environ = PRODUCTION | {"TURN_URLS": "turn:t.example.com", "TURN_SECRET": STRONG, name: value}
    with pytest.raises(SettingsError, match=name):
        load_settings(environ, env_file=NO_FILE)


def test_deployment_defaults_and_values(tmp_path: Path) -> None:
    development = load_settings({"DATA_DIR": str(tmp_path)}, env_file=NO_FILE)
    assert development.log_format == "text"
    assert development.trusted_proxies == ()
    assert development.drain_seconds == 30
    production = load_settings(
        PRODUCTION
        | {
            "TRUSTED_PROXIES": "10.0.0.0/8, 172.16.0.1, ::1",
            "DRAIN_SECONDS": "0",
            "METRICS_TOKEN": "m" * 40,
        },
        env_file=NO_FILE,
    )
    assert production.log_format == "json"
    assert [str(n) for n in production.trusted_proxies] == [
        "10.0.0.0/8",
        "172.16.0.1/32",
        "::1/128",
    ]
    assert production.drain_seconds == 0
    assert production.metrics_token == "m" * 40
    with pytest.raises(SettingsError, match="METRICS_TOKEN must be at least 32"):
        load_settings(PRODUCTION | {"METRICS_TOKEN": "short"}, env_file=NO_FILE)


REPO = Path(__file__).resolve().parents[1]


def test_production_refuses_the_placeholders_of_env_example(tmp_path: Path) -> None:
    """`cp .env.example .env` and start, forgetting to replace a CHANGE_ME: the token signing
    secrets and the TURN secret would be the ones printed in the repository (anyone could sign
    an access token for any user), so production refuses, naming every such variable."""
    env_file = tmp_path / ".env"
    env_file.write_text((REPO / ".env.example").read_text())
    with pytest.raises(SettingsError) as refused:
        load_settings({}, env_file=env_file)
    message = str(refused.value)
    for name in (
        "DATABASE_URL",
        "JWT_ACCESS_SECRET",
        "JWT_REFRESH_SECRET",
        "SMTP_USERNAME",
        "SMTP_PASSWORD",
        "RTC_ANNOUNCED_ADDRESS",
        "TURN_SECRET",
        "MONGO_ROOT_PASSWORD",
    ):
        assert name in message, message
    assert "CHANGE_ME_" not in message  # names only: a real value could be half-replaced
    # One forgotten secret is enough to refuse.
    filled = PRODUCTION | {"TURN_URLS": "turn:t.example.com", "TURN_SECRET": STRONG}
    for name in ("JWT_ACCESS_SECRET", "TURN_SECRET"):
        with pytest.raises(SettingsError, match=name):
            load_settings(filled | {name: "CHANGE_ME_" + STRONG}, env_file=NO_FILE)


@pytest.mark.parametrize("value", ["voice.example.com", "CHANGE_ME_PUBLIC_IP", "1.2.3"])
def test_the_announced_address_must_be_an_ip_address(value: str, tmp_path: Path) -> None:
    """RTC_ANNOUNCED_ADDRESS goes into every ICE candidate as it is: a DNS name or a typo is
    a settings error naming the variable, in every environment (it was only found when the
    media server started, in a message that did not say which setting was wrong)."""
    environ = {"DATA_DIR": str(tmp_path), "RTC_ANNOUNCED_ADDRESS": value}
    with pytest.raises(SettingsError, match="RTC_ANNOUNCED_ADDRESS"):
        load_settings(environ, env_file=NO_FILE)
    assert load_settings(environ | {"RTC_ANNOUNCED_ADDRESS": "203.0.113.7"}, env_file=NO_FILE)
