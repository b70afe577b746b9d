"""Answer times do not tell whether an email has an account (issue #9, item 4).

The endpoints that take an email are timed, interleaved at random, for an address with an
account and for addresses without one, on the real app, database and SMTP server. The two
distributions must overlap: before the fix, the token write made every answer for a real
account slower than every answer for an unknown one (AUC 1.0, 3-5 ms against 1-2 ms).
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


async def assert_answer_times_alike(server: RunningServer, path: str, known: str) -> None:
    """Time requests for `known` and for fresh unknown addresses, shuffled; the slower-than
    probability between the two must stay near a coin toss."""
    kinds = [True] * SAMPLES_PER_KIND + [False] * SAMPLES_PER_KIND
    # A full shuffle, not alternation: load from outside hits both kinds alike, and what one
    # request leaves behind falls on a successor of either kind with the same odds.
    random.shuffle(kinds)
    times: dict[bool, list[float]] = {True: [], False: []}
    async with TimingClient(server, path) as timer:
        for is_known in kinds:
            email = known if is_known else f"ghost-{secrets.token_hex(4)}@example.com"
            times[is_known].append(await timer.time(email))
            # The mail and database work after the answer is allowed to differ; wait for it
            # to end so it does not slow whichever request comes next.
            await server.app[SERVICES].background.drain(grace_seconds=30)
    auc = probability_slower(times[True], times[False])
    summary = (
        f"{path}: median {statistics.median(times[True]):.2f} ms with an account, "
        f"{statistics.median(times[False]):.2f} ms without; AUC {auc:.2f}"
    )
    print(summary)
    assert AUC_BOUNDS[0] <= auc <= AUC_BOUNDS[1], summary


class TimingClient:
    """`tests.timing_client` in a process of its own, timing one request per `time` call."""

    def __init__(self, server: RunningServer, path: str) -> None:
        url = urlsplit(server.base_url)
        self._args = [str(url.hostname), str(url.port), path]
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

    async def time(self, email: str) -> float:
        assert self._process is not None and self._process.stdin and self._process.stdout
        self._process.stdin.write(f"{email}\n".encode())
        await self._process.stdin.drain()
        line = await asyncio.wait_for(self._process.stdout.readline(), 30)
        assert line, "the timing client exited"
        result = json.loads(line)
        assert result["status"] == 202, result
        return float(result["ms"])

    async def __aexit__(self, *_: object) -> None:
        assert self._process is not None and self._process.stdin
        self._process.stdin.close()
        await asyncio.wait_for(self._process.wait(), 30)


def probability_slower(a: list[float], b: list[float]) -> float:
    """P(x > y) for x drawn from `a` and y from `b`, ties counting half (the Mann-Whitney U
    statistic over len(a) * len(b), i.e. the area under the ROC curve)."""
    wins = sum((x > y) + 0.5 * (x == y) for x in a for y in b)
    return wins / (len(a) * len(b))
