"""The server a run loads: one started here (local) or a deployment named by --server URL.

Local: `python -m api` in a subprocess (development, embedded database in a temporary data
dir, RATE_LIMITS=off, RTC_HOST_ADDRESSES=127.0.0.1), exactly as benchmarks/sfu_forwarding.py
starts it. Its bot accounts come from `python -m api admin create-bots` run with the
server's own environment (the documented operator command); if that command is missing,
from REST sign-up through the development outbox (benchmarks.accounts).

Remote: the server at --server URL; bot accounts from a --bots-file written by
`gethory admin create-bots --count N --prefix P --out FILE` on the server's machine. Every
bot signs in with `POST /api/auth/login` (email + the file's password) for a bearer token.
Its ICE servers come from the deployment (`GET /api/rtc/ice-servers`, TURN included).

Mistakes a user can make (bad URL, unreachable server, no or wrong bots file, wrong
password) raise `BenchError`, which the CLI prints as one line (exit status 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

if TYPE_CHECKING:
    from benchmarks.bots import ServerProcess

LOGIN_CONCURRENCY = 16  # sign-ins in flight: each costs the server a password hash
HTTP_SECONDS = 30.0
CREATE_BOTS_SECONDS = 600.0
SERVER_STOP_SECONDS = 20.0  # for the local server to drain and exit after its SIGINT
_USERINFO = re.compile(r"//[^/@]*@")  # the user:password@ of a URL
LOGIN_ATTEMPTS = 5  # a sign-in answered 429 is tried again after Retry-After, this often
RETRY_AFTER_MAX = 60.0  # seconds: a longer Retry-After is waited this long


class BenchError(Exception):
    """A problem the user can fix; its message is one line, printed without a traceback."""


@dataclass
class Target:
    """A reachable Gethory server. `kind`: "gethory-local" | "gethory-remote"; `pid`: the
    local server process (None for remote); `rtc`: "loopback" | "deployment"."""

    kind: str
    base_url: str
    http: aiohttp.ClientSession
    pid: int | None
    rtc: str
    bots_file: Path | None = None
    workdir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    log_tail: Any = None  # () -> str: the local server's log tail, for errors

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "url": self.base_url}

    async def tokens(self, count: int) -> list[str]:
        """`count` access tokens of distinct bot accounts (one room seat each)."""
        if self.bots_file is None and self.workdir is not None:
            self.bots_file = await self._create_local_bots(count)
            if self.bots_file is None:  # no admin command: REST sign-up in development
                from benchmarks.accounts import GethoryAccounts

                accounts = GethoryAccounts(self.http, self.workdir / "data" / "outbox")
                return await accounts.sign_up(count)
        assert self.bots_file is not None
        email_and_password = read_bots_file(self.bots_file, count)
        return await self._login_all(email_and_password)

    async def _create_local_bots(self, count: int) -> Path | None:
        assert self.workdir is not None
        out = self.workdir / "bots.json"
        command = [sys.executable, "-m", "api", "admin", "create-bots"]
        command += ["--count", str(count), "--prefix", "bench", "--out", str(out)]
        process = await asyncio.create_subprocess_exec(
            *command,
            env=self.env,
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        async with asyncio.timeout(CREATE_BOTS_SECONDS):
            _, stderr = await process.communicate()
        if process.returncode != 0 or not out.exists():
            # Only a server without the admin command falls back to sign-up: any other
            # failure (a --count above its limit, a database error) is create-bots' own
            # one-line message, and REST sign-up of thousands of accounts would take hours.
            if b"invalid choice: 'admin'" in stderr:
                return None
            message = " ".join(stderr.decode(errors="replace").split())[-300:]
            raise BenchError(f"`{' '.join(command[1:5])} --count {count}` failed: {message}")
        return out

    async def _login_all(self, accounts: Sequence[tuple[str, str]]) -> list[str]:
        gate = asyncio.Semaphore(LOGIN_CONCURRENCY)

        async def login(email: str, password: str) -> str:
            async with gate:
                return await self._login(email, password)

        return list(await asyncio.gather(*(login(e, p) for e, p in accounts)))

    async def _login(self, email: str, password: str) -> str:
        body = {"email": email, "password": password}
        for _ in range(LOGIN_ATTEMPTS):
            try:
                async with self.http.post("/api/auth/login", json=body) as response:
                    status, reply = response.status, await _json(response)
                    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            except (aiohttp.ClientError, OSError) as error:
                reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
                raise BenchError(f"{self.base_url}: sign-in of {email} failed: {reason}") from None
            except TimeoutError:
                raise BenchError(
                    f"{self.base_url} did not answer the sign-in of {email} within "
                    f"{HTTP_SECONDS:g} s"
                ) from None
            if status == 200:
                token = reply.get("accessToken") if isinstance(reply, dict) else None
                if not isinstance(token, str) or not token:
                    # A site answering 200 to every path passes /api/health too.
                    raise BenchError(
                        f"{self.base_url}/api/auth/login answered 200 without an access "
                        "token: is it a Gethory server?"
                    )
                return token
            if status == 429:  # someone else's wrong attempts: wait as told
                await asyncio.sleep(retry_after)
                continue
            code = (reply.get("error") or {}).get("code", "") if isinstance(reply, dict) else ""
            if 400 <= status < 500:
                raise BenchError(
                    f"{self.base_url} refused the bots file's credentials for {email}: "
                    f"{status} {code}".rstrip()
                    + " (run `gethory admin create-bots` again where the server runs)"
                )
            raise BenchError(
                f"{self.base_url}/api/auth/login failed for {email}: {status} {code}".rstrip()
            )
        raise BenchError(f"{self.base_url}: sign-in of {email} kept being rate limited")

    async def create_room(
        self,
        token: str,
        *,
        media: str,
        slots: int | None,
        max_participants: int | None,
        stage: bool = False,
    ) -> str:
        """A public room owned by `token`'s account; its id. `stage`: a stage room (issue 15:
        the owner is its host, everyone else enters as a listener)."""
        body: dict[str, Any] = {"topic": "gethory-bench", "visibility": "public", "media": media}
        if slots is not None:
            body["slots"] = slots
        if max_participants is not None:
            body["maxParticipants"] = max_participants
        if stage:
            body["stage"] = True
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.post("/api/rooms", json=body, headers=headers) as response:
            reply = await _json(response)
            if response.status >= 300:
                raise BenchError(f"{self.base_url} refused to create a room: {reply}")
            if stage and reply.get("stage") is not True:
                raise BenchError(
                    f"{self.base_url} made a room without `stage: true`: does it have stage "
                    "rooms (issue 15)?"
                )
            return str(reply["id"])

    async def user_id(self, token: str) -> str:
        """The id of `token`'s account (`GET /api/users/me`), e.g. to invite it to speak."""
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.get("/api/users/me", headers=headers) as response:
            reply = await _json(response)
            if response.status != 200 or not isinstance(reply, dict) or "id" not in reply:
                raise BenchError(f"{self.base_url}/api/users/me answered {response.status}")
            return str(reply["id"])


def _retry_after_seconds(value: str | None) -> float:
    """Seconds to wait for a 429's Retry-After: delay-seconds or an HTTP date (RFC 9110
    §10.2.3), at most RETRY_AFTER_MAX; 1 s when absent or unreadable."""
    if value is None:
        return 1.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return 1.0
    if not math.isfinite(seconds):
        return 1.0
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


async def _json(response: aiohttp.ClientResponse) -> Any:
    try:
        return await response.json(content_type=None)
    except (json.JSONDecodeError, aiohttp.ContentTypeError, ValueError):
        return {"error": {"code": f"not JSON ({response.content_type})"}}


def read_bots_file(path: Path, count: int) -> list[tuple[str, str]]:
    """(email, password) of the first `count` accounts of a create-bots file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        password = str(data["password"])
        emails = [str(account["email"]) for account in data["accounts"]]
    except OSError as error:
        raise BenchError(f"cannot read the bots file {path}: {error.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise BenchError(
            f"{path} is not a bots file of `gethory admin create-bots` "
            '({"password": ..., "accounts": [{"email": ...}]})'
        ) from None
    if len(emails) < count:
        raise BenchError(
            f"{path} holds {len(emails)} bot accounts; this run needs {count}: "
            f"`gethory admin create-bots --count {count}` where the server runs"
        )
    return [(email, password) for email in emails[:count]]


def check_url(url: str) -> str:
    """The base URL without a trailing slash; BenchError unless http(s)://host[:port][/].

    A user or password in the URL is refused (the bots sign in from the bots file), and no
    error message repeats it."""
    shown = _USERINFO.sub("//…@", url)
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[::1": an unclosed IPv6 literal
        raise BenchError(f"--server {shown!r} is not an http:// or https:// URL") from None
    if parts.username is not None or parts.password is not None:
        raise BenchError(
            f"--server {shown!r}: no user or password in the URL; bots sign in with --bots-file"
        )
    url = shown
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BenchError(f"--server {url!r} is not an http:// or https:// URL")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise BenchError(f"--server {url!r}: give the server's origin only, e.g. https://host")
    try:
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise BenchError(f"--server {url!r} has a bad port") from None
    return url.rstrip("/")


async def wait_reachable(http: aiohttp.ClientSession, base_url: str) -> None:
    """BenchError unless `GET /api/health` answers 200 (a Gethory server, ready)."""
    try:
        async with asyncio.timeout(HTTP_SECONDS):
            async with http.get("/api/health") as response:
                if response.status != 200:
                    raise BenchError(
                        f"{base_url}/api/health answered {response.status}: "
                        "not a ready Gethory server"
                    )
    except (aiohttp.ClientError, OSError) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise BenchError(f"cannot reach {base_url}: {reason}") from None
    except TimeoutError:
        raise BenchError(f"{base_url} did not answer within {HTTP_SECONDS:g} s") from None


@contextlib.asynccontextmanager
async def remote_target(url: str, bots_file: Path | None) -> AsyncIterator[Target]:
    base_url = check_url(url)
    if bots_file is None:
        raise BenchError(
            "--server needs --bots-file: run `gethory admin create-bots --count N --prefix "
            "bench --out bots.json` where the server runs and copy bots.json here"
        )
    read_bots_file(bots_file, 0)  # fail early on a wrong file
    jar = aiohttp.DummyCookieJar()  # bearer tokens only: many sign-ins must not share cookies
    timeout = aiohttp.ClientTimeout(total=HTTP_SECONDS)
    async with aiohttp.ClientSession(base_url=base_url, cookie_jar=jar, timeout=timeout) as http:
        await wait_reachable(http, base_url)
        target = Target("gethory-remote", base_url, http, None, "deployment", bots_file=bots_file)
        await target.tokens(1)  # wrong credentials fail here, before any bot starts
        yield target


@contextlib.contextmanager
def _server_process(env: dict[str, str], port: int, workdir: Path) -> Iterator[ServerProcess]:
    """`python -m api` in its own session until the block ends: then SIGINT, SIGKILL after
    SERVER_STOP_SECONDS. Its own session, because a terminal's Ctrl-C goes to the whole
    foreground process group: the server must keep answering while the bots leave, and get
    one SIGINT, from us, after them (a second signal in its drain hurries it, and could hang
    it until SIGKILL). It still gets SIGTERM if this process dies (PR_SET_PDEATHSIG)."""
    from benchmarks.bots import ServerProcess, die_with_parent, stop_process

    log_path = workdir / "api.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "api"],
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    try:
        yield ServerProcess(process, f"http://127.0.0.1:{port}", log_path)
    finally:
        if stop_process(process, SERVER_STOP_SECONDS):
            _kill_embedded_database(workdir)


def _kill_embedded_database(workdir: Path) -> None:
    """SIGKILL the embedded database of a server that was SIGKILLed itself: it runs in its own
    session (api.store.embedded) and would outlive the run. Only a process whose command line
    names this run's data directory (its pid file may be stale)."""
    pid_file = workdir / "data" / "mongo" / "server.pid"
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if str(workdir.resolve()).encode() in cmdline:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.asynccontextmanager
async def local_target(media_port: bool = False) -> AsyncIterator[Target]:
    """Start `python -m api` here, stopped (SIGINT, then SIGKILL) when the block ends;
    `media_port`: all its media on one UDP port (RTC_UDP_PORT)."""
    from benchmarks.bots import development_server_environment, free_port

    with tempfile.TemporaryDirectory(prefix="gethory-bench-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        env = development_server_environment(port, workdir / "data")
        if media_port:
            env["RTC_UDP_PORT"] = str(free_port(socket.SOCK_DGRAM))
        with _server_process(env, port, workdir) as server:
            try:
                await server.wait_healthy("/api/health")
            except RuntimeError as error:
                raise BenchError(str(error).splitlines()[0]) from None
            jar = aiohttp.DummyCookieJar()
            timeout = aiohttp.ClientTimeout(total=HTTP_SECONDS)
            async with aiohttp.ClientSession(
                base_url=server.base_url, cookie_jar=jar, timeout=timeout
            ) as http:
                yield Target(
                    "gethory-local",
                    server.base_url,
                    http,
                    server.pid,
                    "loopback",
                    workdir=workdir,
                    env=env,
                    log_tail=server.log_tail,
                )
