"""A thin HTTP client for tests: JSON in, (status, JSON) out, cookies kept like a browser."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.mailbox import Mailbox, token_in

PASSWORD = "correct horse battery staple"


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any

    @property
    def error_code(self) -> str | None:
        if isinstance(self.body, dict) and "error" in self.body:
            return str(self.body["error"]["code"])
        return None


class ApiClient:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def call(self, method: str, path: str, json: Any = None, **kwargs: Any) -> Reply:
        async with self.session.request(method, path, json=json, **kwargs) as response:
            body: Any = None
            if response.content_type == "application/json":
                body = await response.json()
            else:
                body = await response.read()
            return Reply(response.status, body, response.headers)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Reply:
        return await self.call("POST", path, json, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("GET", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("DELETE", path, **kwargs)

    def cookie(self, name: str) -> str | None:
        for cookie in self.session.cookie_jar:
            if cookie.key == name:
                return cookie.value
        return None

    async def register_verified(
        self, mailbox: Mailbox, name: str = "Ann", password: str = PASSWORD
    ) -> str:
        """Sign up a fresh address, verify it through the emailed link; returns the email."""
        email = f"{name.lower()}-{secrets.token_hex(4)}@example.com"
        reply = await self.post(
            "/api/auth/register", {"email": email, "password": password, "name": name}
        )
        assert reply.status == 202, reply.body
        token = token_in(await mailbox.next_for(email))
        reply = await self.post("/api/auth/verify-email", {"token": token})
        assert reply.status == 200, reply.body
        return email

    async def login(self, email: str, password: str = PASSWORD, **kwargs: Any) -> Reply:
        reply = await self.post("/api/auth/login", {"email": email, "password": password}, **kwargs)
        assert reply.status == 200, reply.body
        return reply

    async def signed_up(self, mailbox: Mailbox, name: str = "Ann") -> str:
        email = await self.register_verified(mailbox, name)
        await self.login(email)
        return email


BrowserAt = Callable[..., "ApiClient"]


@asynccontextmanager
async def browsers_at(base_url: str) -> AsyncIterator[BrowserAt]:
    """`make("127.0.0.2")`: a browser (its own cookie jar) whose connections to `base_url`
    come from that loopback address (default 127.0.0.1); `make(address, same_browser_as=other)`:
    `other`'s browser, its cookies, on another network. Every session closes on exit."""
    sessions: list[aiohttp.ClientSession] = []

    def make(address: str = "127.0.0.1", same_browser_as: ApiClient | None = None) -> ApiClient:
        jar = same_browser_as.session.cookie_jar if same_browser_as else None
        session = aiohttp.ClientSession(
            base_url=base_url,
            cookie_jar=jar or aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(local_addr=(address, 0)),
        )
        sessions.append(session)
        return ApiClient(session)

    try:
        yield make
    finally:
        for session in sessions:
            await session.close()
