"""Answer times do not tell whether an email has an account (issue #9, item 4, and its
security review).

The endpoints that take an email are timed, interleaved at random, for an address with an
account and for addresses without one, on the real app, database and SMTP server. The two
distributions must overlap: before the fix, the token write made every answer for a real
account slower than every answer for an unknown one (AUC 1.0, 3-5 ms against 1-2 ms). So must
the times of a `GET /healthz` sent right after each answer on another connection: the work after
the answer once slowed it for real accounts only (median 0.69 ms against 0.45 ms).
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from api.services import SERVICES
from api.settings import Settings
from tests.client import PASSWORD, ApiClient
from tests.conftest import RunningServer
from tests.mailbox import Mailbox

SAMPLES_PER_KIND = 100
# Chance that a random answer for the real account is slower than one for an unknown address:
# 0.5 when the two are indistinguishable; its standard error at 60 + 60 samples is ≈ 0.05, so
# these bounds sit ≈ 5 standard errors out (no flakes), while the leak gave 1.0.
AUC_BOUNDS = (0.35, 0.65)
# How long after an answer the probe request leaves (the review's probe: 4 ms).
PROBE_GAP_MS = 4
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Many requests for one address from one IP: the per-email and per-IP limits would answer
    # 429 (and a 429 takes its own time); this test is about the time of the real answer.
    return replace(settings, rate_limits=False)


async def test_forgot_password_takes_as_long_for_a_real_account(
    client: ApiClient, mailbox: Mailbox, server: RunningServer
) -> None:
    known = await client.register_verified(mailbox)
    await assert_answer_times_alike(server, "/api/auth/forgot-password", known)
    assert mailbox.pending_for(known) == SAMPLES_PER_KIND  # the real account did get its mail


async def test_resend_verification_takes_as_long_for_a_pending_account(
    client: ApiClient, mailbox: Mailbox, server: RunningServer
) -> None:
    pending = f"pending-{secrets.token_hex(4)}@example.com"
    body = {"email": pending, "password": PASSWORD, "name": "Pending"}
    assert (await client.post("/api/auth/register", body)).status == 202
    await mailbox.next_for(pending)
    await assert_answer_times_alike(server, "/api/auth/resend-verification", pending)
    assert mailbox.pending_for(pending) == SAMPLES_PER_KIND


async def test_a_request_right_after_forgot_password_takes_as_long_for_a_real_account(
    client: ApiClient, mailbox: Mailbox, server: RunningServer
) -> None:
    known = await client.register_verified(mailbox)
    await assert_answer_times_alike(server, "/api/auth/forgot-password", known, probe="/healthz")
    assert mailbox.pending_for(known) == SAMPLES_PER_KIND


async def assert_answer_times_alike(
    server: RunningServer, path: str, known: str, probe: str | None = None
) -> None:
    """Time requests for `known` and for fresh unknown addresses, shuffled; the slower-than
    probability between the two must stay near a coin toss. With `probe`, the same holds for
    the time of a GET of `probe` sent right after each answer."""
    kinds = [True] * SAMPLES_PER_KIND + [False] * SAMPLES_PER_KIND
    # A full shuffle, not alternation: load from outside hits both kinds alike, and what one
    # request leaves behind falls on a successor of either kind with the same odds.
    random.shuffle(kinds)
    times: dict[bool, list[float]] = {True: [], False: []}
    probe_times: dict[bool, list[float]] = {True: [], False: []}
    async with TimingClient(server, path, probe) as timer:
        for is_known in kinds:
            email = known if is_known else f"ghost-{secrets.token_hex(4)}@example.com"
            answer_ms, probe_ms = await timer.time(email)
            times[is_known].append(answer_ms)
            if probe_ms is not None:
                probe_times[is_known].append(probe_ms)
    # Not drained between requests: the work after an answer lands on whichever requests
    # follow, as it would for a real attacker; the shuffle gives both kinds the same odds.
    await server.app[SERVICES].background.drain(grace_seconds=30)
    summaries = [summarize(path, times)]
    if probe is not None:
        summaries.append(summarize(f"{probe} right after {path}", probe_times))
    print("\n".join(text for text, _ in summaries))
    for text, auc in summaries:
        assert AUC_BOUNDS[0] <= auc <= AUC_BOUNDS[1], text


def summarize(what: str, times: dict[bool, list[float]]) -> tuple[str, float]:
    auc = probability_slower(times[True], times[False])
    text = (
        f"{what}: median {statistics.median(times[True]):.2f} ms with an account, "
        f"{statistics.median(times[False]):.2f} ms without; AUC {auc:.2f}"
    )
    return text, auc


class TimingClient:
    """`tests.timing_client` in a process of its own, timing one request per `time` call."""

    def __init__(self, server: RunningServer, path: str, probe: str | None = None) -> None:
        url = urlsplit(server.base_url)
        probing = [probe, str(PROBE_GAP_MS)] if probe else []
        self._args = [str(url.hostname), str(url.port), path, *probing]
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> TimingClient:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.timing_client",
            *self._args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO,
        )
        return self

    async def time(self, email: str) -> tuple[float, float | None]:
        """The answer's time, and the probe's if there is one, in ms."""
        assert self._process is not None and self._process.stdin and self._process.stdout
        self._process.stdin.write(f"{email}\n".encode())
        await self._process.stdin.drain()
        line = await asyncio.wait_for(self._process.stdout.readline(), 30)
        assert line, "the timing client exited"
        result = json.loads(line)
        assert result["status"] == 202, result
        probe_ms = result.get("probe_ms")
        return float(result["ms"]), None if probe_ms is None else float(probe_ms)

    async def __aexit__(self, *_: object) -> None:
        assert self._process is not None and self._process.stdin
        self._process.stdin.close()
        await asyncio.wait_for(self._process.wait(), 30)


def probability_slower(a: list[float], b: list[float]) -> float:
    """P(x > y) for x drawn from `a` and y from `b`, ties counting half (the Mann-Whitney U
    statistic over len(a) * len(b), i.e. the area under the ROC curve)."""
    wins = sum((x > y) + 0.5 * (x == y) for x in a for y in b)
    return wins / (len(a) * len(b))
