"""Headless Firefox ESR (Debian's), driven by puppeteer-core over WebDriver BiDi.

Playwright drives only its own patched Firefox builds, so `firefox_driver.mjs` (Node,
puppeteer-core from web/'s devDependencies) runs the browser and this class sends it one
command per JSON line on stdin and reads one reply per line on stdout.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

DRIVER = Path(__file__).with_name("firefox_driver.mjs")
STEP_TIMEOUT = 30.0  # above the driver's own 20 s wait for an element, so its error shows
LAUNCH_TIMEOUT = 60.0  # a cold first start of Firefox on a busy 2-core machine
REPLY_LIMIT = 16 * 1024 * 1024  # a reply is one line; getStats reports can be long


class FirefoxError(AssertionError):
    """A step failed in the browser; carries the driver's message."""


class Firefox:
    def __init__(self, process: asyncio.subprocess.Process, base_url: str) -> None:
        self._process = process
        self._ids = itertools.count(1)
        self.base_url = base_url

    @classmethod
    async def launch(cls, profile: Path, base_url: str) -> Firefox:
        profile.mkdir(parents=True, exist_ok=True)
        process = await asyncio.create_subprocess_exec(
            "node",
            str(DRIVER),
            str(profile),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=REPLY_LIMIT,
        )
        firefox = cls(process, base_url)
        # The driver reads commands only once Firefox is up: this reply says it started.
        async with asyncio.timeout(LAUNCH_TIMEOUT):
            await firefox._step("url", timeout=None)
        return firefox

    async def _step(self, op: str, timeout: float | None = STEP_TIMEOUT, **args: Any) -> Any:
        assert self._process.stdin is not None and self._process.stdout is not None
        step = next(self._ids)
        self._process.stdin.write(json.dumps({"id": step, "op": op, **args}).encode() + b"\n")
        async with asyncio.timeout(timeout):
            await self._process.stdin.drain()
            line = await self._process.stdout.readline()
        if not line:
            raise FirefoxError(f"the Firefox driver exited (code {await self._process.wait()})")
        reply = json.loads(line)
        assert reply["id"] == step, reply
        if not reply["ok"]:
            raise FirefoxError(f"{op} {args}: {reply['error']}")
        return reply["value"]

    async def init_script(self, source: str) -> None:
        """Runs `source` in every document before the page's own scripts."""
        await self._step("initScript", source=source)

    async def goto(self, path: str) -> None:
        await self._step("goto", url=self.base_url + path)

    async def type(self, selector: str, text: str) -> None:
        await self._step("type", selector=selector, text=text)

    async def click(self, selector: str) -> None:
        await self._step("click", selector=selector)

    async def wait_for(self, selector: str) -> None:
        """Until an element matching `selector` (CSS or puppeteer's ::-p-aria/-p-text) shows."""
        await self._step("waitFor", selector=selector)

    async def evaluate(self, source: str, arg: Any = None) -> Any:
        """Calls the JavaScript function `source` with `arg` in the page; returns its result."""
        return await self._step("evaluate", source=source, arg=arg)

    async def url(self) -> str:
        return str(await self._step("url"))

    async def screenshot(self, path: str) -> None:
        await self._step("screenshot", path=path)

    async def close(self) -> None:
        """Closes stdin, on which the driver closes Firefox and exits."""
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            async with asyncio.timeout(20):
                await self._process.wait()
        except TimeoutError:
            self._process.kill()
            await self._process.wait()
