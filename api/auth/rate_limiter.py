"""In-process sliding-window rate limits keyed by action and IP or email, and the sign-in
throttle keyed by account and client IP.

Kept in memory: one server process owns its counters. A deployment with several processes
needs a shared store behind the same `hit` call.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from api.errors import RateLimited

LONGEST_WINDOW_SECONDS = 3600.0
# An IPv6 client is counted by its network of this size: every site holds a /64 at least
# (RFC 6177), so one bucket per address would let a client change address for every attempt.
IPV6_CLIENT_PREFIX = 64


def client_bucket(ip: str) -> str:
    """The key a client's IP is counted under: an IPv4 address as it is, an IPv6 address
    by its /64 (an IPv4-mapped one as its IPv4 address); anything else unchanged."""
    try:
        address = ipaddress.ip_address(ip.partition("%")[0])
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False))
    return str(address)


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
    authentication cheat sheet: lock-out by account alone hands attackers a denial of service;
    its device-cookie pattern keeps the owner's browser out of reach of that denial).
    """

    # Failures one client IP may make against one account before it must wait.
    per_client: Limit = Limit(10, 900.0)
    # Failures one client IP may make across all accounts (successes are not counted).
    per_ip: Limit = Limit(30, 900.0)
    # Failures a browser holding a device cookie for the account may make with it; such a
    # browser is subject to this limit only.
    per_device: Limit = Limit(10, 900.0)
    # Failures against one account, from clients without its device cookie, before each further
    # attempt from such a client must wait: 1 s, 2 s, 4 s ... up to `max_backoff_seconds`.
    free_failures: int = 20
    base_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    # An account's failures are forgotten after this long without one.
    forget_after_seconds: float = 900.0


@dataclass
class _AccountFailures:
    count: int = 0
    last: float = 0.0


@dataclass(frozen=True)
class LoginAttempt:
    """What one attempt counted, so that `LoginThrottle.succeeded` can take exactly it back."""

    account: str
    client_ip: str
    device: str | None
    at: float


class LoginThrottle:
    """Sign-in attempts limited per client, never an outright lock-out of the owner.

    Guarantees, for an account (its normalized email, known or not, so the work is the same
    whether or not it exists):
    - an attempt carrying a valid device cookie for the account (`device`: the browser signed in
      to it before) is limited only by that cookie's own failures (`per_device`); guessing from
      other clients, from any number of IPs or from the same IP, never makes it wait;
    - any other attempt is limited by its IP's failures on all accounts (`per_ip`), its IP's
      failures on this account (`per_client`), and, after `free_failures` failures on the
      account from such clients, an exponential back-off capped at `max_backoff_seconds`;
    - only failures count: a right password takes its own attempt back, and clears its
      client's (IP's or device's) failures on the account; a password reset (the emailed
      link proves the mailbox) clears all of the account's failures.
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
        # Failure times per key: ("ip", ip), ("client", account, ip), ("device", account, nonce).
        self._failures: dict[tuple[str, ...], deque[float]] = {}
        self._per_account: dict[str, _AccountFailures] = {}
        self._calls_since_sweep = 0

    def attempt(self, account: str, client_ip: str, device: str | None = None) -> LoginAttempt:
        """Count an attempt as a failure until `succeeded`; raise `RateLimited` (counting
        nothing) when this client must wait."""
        now = self._clock()
        attempt = LoginAttempt(account, client_bucket(client_ip), device, now)
        if not self._enabled:
            return attempt
        self._maybe_sweep(now)
        keys = self._keys(attempt)
        for key, limit in keys:
            self._check(key, limit, now)
        if device is None:
            self._check_account(account, now)
        for key, _ in keys:
            self._failures.setdefault(key, deque()).append(now)
        if device is None:
            failures = self._account_failures(account, now)
            failures.count += 1
            failures.last = now
        return attempt

    def succeeded(self, attempt: LoginAttempt) -> None:
        """The password was right: the attempt is not a failure, and its client's failures on
        the account are cleared. Other clients keep their waits, and so does the account's
        back-off for clients without a device cookie (a password reset lifts that)."""
        if not self._enabled:
            return
        for key, _ in self._keys(attempt):
            hits = self._failures.get(key)
            if hits is None:
                continue
            if key[0] == "ip":
                if attempt.at in hits:
                    hits.remove(attempt.at)
            else:
                del self._failures[key]
        if attempt.device is None:
            failures = self._per_account.get(attempt.account)
            if failures is not None and failures.count > 0:
                failures.count -= 1

    def forget(self, account: str) -> None:
        """Clear every failure counted against the account (after a password reset)."""
        self._per_account.pop(account, None)
        for key in [key for key in self._failures if key[0] != "ip" and key[1] == account]:
            del self._failures[key]

    def _keys(self, attempt: LoginAttempt) -> list[tuple[tuple[str, ...], Limit]]:
        policy = self._policy
        if attempt.device is not None:
            return [(("device", attempt.account, attempt.device), policy.per_device)]
        return [
            (("ip", attempt.client_ip), policy.per_ip),
            (("client", attempt.account, attempt.client_ip), policy.per_client),
        ]

    def _check(self, key: tuple[str, ...], limit: Limit, now: float) -> None:
        hits = self._failures.get(key)
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

    def _maybe_sweep(self, now: float) -> None:
        # Forget idle keys now and then so memory follows live traffic, not history.
        self._calls_since_sweep += 1
        if self._calls_since_sweep < 10_000:
            return
        self._calls_since_sweep = 0
        window = max(
            self._policy.per_client.window_seconds,
            self._policy.per_ip.window_seconds,
            self._policy.per_device.window_seconds,
        )
        for key in [
            k for k, hits in self._failures.items() if not hits or hits[-1] <= now - window
        ]:
            del self._failures[key]
        forget = self._policy.forget_after_seconds
        for account in [a for a, f in self._per_account.items() if now - f.last > forget]:
            del self._per_account[account]
