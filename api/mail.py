"""Sending email: over SMTP (aiosmtplib) when configured, else into the development outbox."""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from api.settings import SmtpSettings

log = logging.getLogger(__name__)


class Mailer:
    def __init__(self, smtp: SmtpSettings | None, outbox_dir: Path) -> None:
        self._smtp = smtp
        self._outbox_dir = outbox_dir
        # Outbox files are numbered: one writer at a time, so two never pick the same number.
        self._outbox_lock = asyncio.Lock()

    async def send(self, message: EmailMessage, link: str) -> None:
        """Deliver `message`; `link` is only for the development log line."""
        if self._smtp is None:
            # A directory scan and a file write: off the event loop, which serves everyone.
            async with self._outbox_lock:
                await asyncio.to_thread(self._keep_in_outbox, message, link)
            return
        await aiosmtplib.send(
            message,
            hostname=self._smtp.host,
            port=self._smtp.port,
            username=self._smtp.username,
            password=self._smtp.password,
            use_tls=self._smtp.tls == "tls",
            start_tls=self._smtp.tls == "starttls",
            timeout=30,
        )

    def _keep_in_outbox(self, message: EmailMessage, link: str) -> None:
        self._outbox_dir.mkdir(parents=True, exist_ok=True)
        index = len(list(self._outbox_dir.glob("*.eml"))) + 1
        path = self._outbox_dir / f"{index:05d}.eml"
        path.write_bytes(bytes(message))
        # Development only (no SMTP configured): the link is the whole point of the line.
        log.info("email to %s: %s (%s) saved as %s", message["To"], message["Subject"], link, path)
