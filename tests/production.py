"""The settings of a production Gethory on this machine: loopback only, a real Mongo-wire
database and a real SMTP server, fresh secrets. Used to start the real process or image."""

from __future__ import annotations

import secrets

from tests.mailbox import Mailbox


def production_settings(
    port: int, origin: str, database_url: str, mailbox: Mailbox
) -> dict[str, str]:
    """GETHORY_ENV=production with everything it requires (exit 2 otherwise), on 127.0.0.1:port,
    mail to `mailbox` over plain SMTP, ICE host candidates on 127.0.0.1 only."""
    return {
        "GETHORY_ENV": "production",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "APP_ORIGIN": origin,
        "DATABASE_URL": database_url,
        "JWT_ACCESS_SECRET": secrets.token_urlsafe(32),
        "JWT_REFRESH_SECRET": secrets.token_urlsafe(32),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mailbox.port),
        "SMTP_TLS": "none",
        "SMTP_FROM": "Gethory <no-reply@gethory.test>",
        "RTC_HOST_ADDRESSES": "127.0.0.1",
    }
