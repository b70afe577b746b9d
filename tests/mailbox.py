"""A real SMTP server (aiosmtpd) on the test loop, collecting messages per recipient."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections import defaultdict
from email.message import EmailMessage
from urllib.parse import parse_qs, urlparse

from aiosmtpd.smtp import SMTP, Envelope, Session

LINK = re.compile(r"https?://\S+")


class Mailbox:
    def __init__(self) -> None:
        self._queues: defaultdict[str, asyncio.Queue[EmailMessage]] = defaultdict(asyncio.Queue)
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(self, hostname="localhost"), "127.0.0.1", 0
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        for recipient in envelope.rcpt_tos:
            self._queues[recipient.lower()].put_nowait(message)
        return "250 OK"

    async def next_for(self, address: str, timeout: float = 10.0) -> EmailMessage:
        return await asyncio.wait_for(self._queues[address.lower()].get(), timeout)

    def pending_for(self, address: str) -> int:
        return self._queues[address.lower()].qsize()


def link_in(message: EmailMessage) -> str:
    """The one link of the plain-text part; the HTML part must carry the same one."""
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None, "email needs a text and an HTML part"
    text = plain.get_content()
    links = LINK.findall(text)
    assert len(links) == 1, text
    assert links[0] in html.get_content().replace("&amp;", "&")
    return str(links[0])


def token_in(message: EmailMessage) -> str:
    return parse_qs(urlparse(link_in(message)).query)["token"][0]
