"""In-process sliding-window rate limits keyed by action and IP or email, and the sign-in
throttle keyed by account and client IP.

Kept in memory: one server process owns its counters. A deployment with several processes
needs a shared store behind the same `hit` call.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from api.errors import RateLimited

LONGEST_WINDOW_SECONDS = 3600.0


@dataclass(frozen=True)
class Limit:
    max_hits: int
    window_seconds: float


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, enabled: bool = True) -> None:
        self._clock = clock
        # Off only for load tests on a development server (RATE_LIMITS=off).
        self._enabled = enabled
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._calls_since_sweep = 0

    def hit(self, action: str, subject: str, limit: Limit) -> None:
        """Count one attempt; raise `RateLimited` (counting nothing) when over the limit."""
        if not self._enabled:
            return
        now = self._clock()
        self._maybe_sweep(now)
        hits = self._hits.setdefault((action, subject), deque())
        while hits and hits[0] <= now - limit.window_seconds:
            hits.popleft()
        if len(hits) >= limit.max_hits:
            retry_after = hits[0] + limit.window_seconds - now
            raise RateLimited(max(1, math.ceil(retry_after)))
        hits.append(now)

    def _maybe_sweep(self, now: float) -> None:
        # Forget idle keys now and then so memory follows live traffic, not history.
        self._calls_since_sweep += 1
        if self._calls_since_sweep < 10_000:
            return
        self._calls_since_sweep = 0
        idle = [
            key
            for key, hits in self._hits.items()
            if not hits or hits[-1] <= now - LONGEST_WINDOW_SECONDS
        ]
        for key in idle:
            del self._hits[key]


@dataclass(frozen=True)
class LoginPolicy:
    """How sign-in failures slow guessing without locking the owner out (OWASP's
    authentication cheat sheet: lock-out by account alone hands attackers a denial of service).
    """

    # Failures one client IP may make against one account before it must wait.
    per_client: Limit = Limit(10, 900.0)
    # Failures against one account, from all IPs, before each further attempt from an IP the
    # owner has not signed in from must wait: 1 s, 2 s, 4 s ... up to `max_backoff_seconds`.
    free_failures: int = 20
    base_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    # An account's failures are forgotten after this long without one.
    forget_after_seconds: float = 900.0
    # A client IP that signed in to an account stays exempt from the account-wide back-off.
    trust_seconds: float = 30 * 24 * 3600.0
    trusted_ips_per_account: int = 8


@dataclass
class _AccountFailures:
    count: int = 0
    last: float = 0.0


class LoginThrottle:
    """Sign-in attempts per (account, client IP) and per account, never an outright lock-out.

    Guarantees, for an account (its normalized email, known or not, so the work is the same
    whether or not it exists):
    - one client IP gets `per_client.max_hits` failures per window, then 429 with Retry-After;
      other IPs are not affected by it;
    - after `free_failures` from all IPs, attempts from IPs the owner has not signed in from are
      spaced by an exponential back-off capped at `max_backoff_seconds`, so a wait is bounded;
    - an IP the owner signed in from is exempt from that back-off;
    - a successful sign-in clears its IP's failures and the account's back-off, and a password
      reset (the emailed link proves the mailbox) clears all of the account's failures.
    An attempt counts as a failure from the moment it starts (`attempt`), so a burst of
    concurrent guesses is limited as strictly as a sequence; `succeeded` takes it back.
    """

    def __init__(
        self,
        policy: LoginPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool = True,
    ) -> None:
        self._policy = policy or LoginPolicy()
        self._clock = clock
        self._enabled = enabled
        self._per_client: dict[tuple[str, str], deque[float]] = {}
        self._per_account: dict[str, _AccountFailures] = {}
        self._trusted: dict[str, dict[str, float]] = {}
        self._calls_since_sweep = 0

    def attempt(self, account: str, client_ip: str) -> None:
        """Count an attempt as a failure until `succeeded`; raise `RateLimited` (counting
        nothing) when this client, or this account for this client, must wait."""
        if not self._enabled:
            return
        now = self._clock()
        self._maybe_sweep(now)
        self._check_client(account, client_ip, now)
        if not self._is_trusted(account, client_ip, now):
            self._check_account(account, now)
        self._per_client.setdefault((account, client_ip), deque()).append(now)
        failures = self._account_failures(account, now)
        failures.count += 1
        failures.last = now

    def succeeded(self, account: str, client_ip: str) -> None:
        """The password was right: this IP's failures and the account's back-off are cleared,
        and this IP becomes exempt from the account's back-off. Other IPs keep their waits."""
        self._per_client.pop((account, client_ip), None)
        self._per_account.pop(account, None)
        trusted = self._trusted.setdefault(account, {})
        trusted[client_ip] = self._clock()
        while len(trusted) > self._policy.trusted_ips_per_account:
            del trusted[min(trusted, key=trusted.__getitem__)]

    def forget(self, account: str) -> None:
        """Clear every failure counted against the account (after a password reset)."""
        self._per_account.pop(account, None)
        for key in [key for key in self._per_client if key[0] == account]:
            del self._per_client[key]

    def _check_client(self, account: str, client_ip: str, now: float) -> None:
        limit = self._policy.per_client
        hits = self._per_client.get((account, client_ip))
        if hits is None:
            return
        while hits and hits[0] <= now - limit.window_seconds:
            hits.popleft()
        if len(hits) >= limit.max_hits:
            raise RateLimited(max(1, math.ceil(hits[0] + limit.window_seconds - now)))

    def _check_account(self, account: str, now: float) -> None:
        failures = self._account_failures(account, now)
        over = failures.count - self._policy.free_failures
        if over < 0:
            return
        # Capping the exponent keeps 2**over finite however long an attack goes on.
        backoff = min(
            self._policy.max_backoff_seconds,
            self._policy.base_backoff_seconds * 2.0 ** min(over, 32),
        )
        wait = failures.last + backoff - now
        if wait > 0:
            raise RateLimited(max(1, math.ceil(wait)))

    def _account_failures(self, account: str, now: float) -> _AccountFailures:
        failures = self._per_account.setdefault(account, _AccountFailures())
        if failures.count and now - failures.last > self._policy.forget_after_seconds:
            failures.count = 0
        return failures

    def _is_trusted(self, account: str, client_ip: str, now: float) -> bool:
        since = self._trusted.get(account, {}).get(client_ip)
        return since is not None and now - since < self._policy.trust_seconds

    def _maybe_sweep(self, now: float) -> None:
        # Forget idle keys now and then so memory follows live traffic, not history.
        self._calls_since_sweep += 1
        if self._calls_since_sweep < 10_000:
            return
        self._calls_since_sweep = 0
        window = self._policy.per_client.window_seconds
        for key in [
            k for k, hits in self._per_client.items() if not hits or hits[-1] <= now - window
        ]:
            del self._per_client[key]
        forget = self._policy.forget_after_seconds
        for account in [a for a, f in self._per_account.items() if now - f.last > forget]:
            del self._per_account[account]
        for account, ips in list(self._trusted.items()):
            for ip in [
                ip for ip, since in ips.items() if now - since >= self._policy.trust_seconds
            ]:
                del ips[ip]
            if not ips:
                del self._trusted[account]
