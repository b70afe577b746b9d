"""A bot process's periodic chores, all on one timer: RTCP receiver reports and ICE consent.

Per connected bot, aiortc and aioice each keep a coroutine asleep between chores: a receiver
RTCP loop (a report every 0.5-1.5 s) and aioice's consent loop (a STUN Binding request every
4-6 s, RFC 7675, with a `Transaction`, its future and its retransmission timer). With hundreds
of listeners in a process, those wake-ups, each alone, cost more than the chores themselves.
`Upkeep` does them for every bot of the event loop in one callback every ROUND_SECONDS
(randomized over [0.8, 1.2] times, as aioice randomizes consent):

- Consent (RFC 7675 §5.1): a Binding request on each nominated pair, built and authenticated
  as aioice's `query_consent` builds it (`Connection.build_request`, MESSAGE-INTEGRITY with
  the remote password, sent with `StunProtocol.send_stun`, no retransmission), registered in
  the pair's `StunProtocol.transactions` under its transaction id, so aioice's own
  `datagram_received` hands the response to it (`response_received(message, addr)`, the duck
  type of aioice's `Transaction`). An authenticated success response answers it; a request
  unanswered by the next round is a failure; after CONSENT_FAILURES rounds in a row without
  an answer (30 s: aioice's 6 × 5 s), consent is lost and the connection closes, as aioice's
  own loop closes it (then aiortc reports the peer connection failed/closed). Installed per
  connection (`keep_consent`): an instance attribute replacing `Connection.query_consent`,
  which aioice starts when ICE completes and cancels on close; a server in the same process
  keeps its own.
- Receiver reports: `Upkeep.every_round(callback)` for each bot (ListenerBot sends its RR).

Answering the server's consent checks is not a chore here: aioice does it on receipt.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import aioice.ice
import aioice.stun

ROUND_SECONDS = 5.0  # aioice's CONSENT_INTERVAL; also RFC 3550 §6.2's minimum RTCP interval
CONSENT_FAILURES = 6  # aioice's: consent lost after 6 rounds (30 s) without an answer


class _ConsentCheck:
    """One consent request in flight: aioice's `Transaction` duck type for its protocol."""

    __slots__ = ("answered", "key", "protocol", "transaction_id")

    def __init__(
        self, protocol: aioice.ice.StunProtocol, transaction_id: bytes, key: bytes
    ) -> None:
        self.protocol = protocol
        self.transaction_id = transaction_id
        self.key = key
        self.answered = False

    def response_received(self, message: aioice.stun.Message, addr: tuple[Any, ...]) -> None:
        if message.message_class == aioice.stun.Class.RESPONSE and (
            message.check_message_integrity(self.key)
        ):
            self.answered = True

    def forget(self) -> None:
        self.protocol.transactions.pop(self.transaction_id, None)


class _Consent:
    """One connection's consent state."""

    def __init__(self, connection: aioice.ice.Connection) -> None:
        self.connection = connection
        self.failures = 0
        self.checks: list[_ConsentCheck] = []
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def round(self) -> None:
        """Score the previous round's checks, then send this round's."""
        if self.checks:
            answered = any(check.answered for check in self.checks)
            for check in self.checks:
                check.forget()
            self.checks = []
            self.failures = 0 if answered else self.failures + 1
            if self.failures >= CONSENT_FAILURES:
                if not self.lost.done():
                    self.lost.set_result(None)
                return
        connection = self.connection
        assert connection.remote_password is not None  # connect() has it before consent
        key = connection.remote_password.encode("utf8")
        for pair in connection._nominated.values():
            request = connection.build_request(pair, nominate=False)
            request.add_message_integrity(key)
            check = _ConsentCheck(pair.protocol, request.transaction_id, key)
            transactions: Any = pair.protocol.transactions  # aioice's Transaction duck type
            transactions[request.transaction_id] = check
            self.checks.append(check)
            pair.protocol.send_stun(request, pair.remote_addr)

    def forget(self) -> None:
        for check in self.checks:
            check.forget()
        self.checks = []


class Upkeep:
    """The event loop's one timer for every bot's chores (module docstring)."""

    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Upkeep]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.round_seconds = ROUND_SECONDS  # the mean period; tests may shorten it
        self.rounds = 0
        self._consents: dict[aioice.ice.Connection, _Consent] = {}
        self._callbacks: dict[object, Callable[[], None]] = {}
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def running(cls) -> Upkeep:
        """The running loop's Upkeep (created on first use)."""
        loop = asyncio.get_running_loop()
        upkeep = cls._by_loop.get(loop)
        if upkeep is None:
            upkeep = cls._by_loop[loop] = cls(loop)
        return upkeep

    @property
    def consents(self) -> dict[aioice.ice.Connection, _Consent]:
        """The connections whose consent is kept, with their state (`failures`: rounds in a
        row without an answer)."""
        return self._consents

    def every_round(self, owner: object, callback: Callable[[], None]) -> None:
        """Call `callback` each round until `forget(owner)`; an exception it raises is not
        propagated (the other chores still run)."""
        self._callbacks[owner] = callback
        self._schedule()

    def forget(self, owner: object) -> None:
        self._callbacks.pop(owner, None)

    async def keep_consent(self, connection: aioice.ice.Connection) -> None:
        """`Connection.query_consent` for `connection`: returns once consent is lost, having
        closed the connection; cancelled by aioice when the connection closes."""
        consent = self._consents[connection] = _Consent(connection)
        self._schedule()
        try:
            await consent.lost
        finally:
            consent.forget()
            self._consents.pop(connection, None)
        hooked: Any = connection
        hooked._query_consent_task = None  # as aioice: close() would cancel this very task
        await connection.close()

    def _schedule(self) -> None:
        if self._timer is None:
            delay = self.round_seconds * (0.8 + 0.4 * random.random())
            self._timer = self.loop.call_later(delay, self._round)

    def _round(self) -> None:
        self._timer = None
        self.rounds += 1
        for consent in list(self._consents.values()):
            try:
                consent.round()
            except Exception:  # one connection's failure is not the others'
                consent.forget()
        for callback in list(self._callbacks.values()):
            try:
                callback()
            except Exception:  # as above
                continue
        if self._consents or self._callbacks:
            self._schedule()


def keep_consent(connection: aioice.ice.Connection) -> None:
    """Have `connection`'s consent checked by the running loop's `Upkeep` (call before ICE
    completes, i.e. before aiortc's setRemoteDescription/setLocalDescription complete)."""
    upkeep = Upkeep.running()

    async def query_consent() -> None:
        await upkeep.keep_consent(connection)

    hooked: Any = connection
    hooked.query_consent = query_consent
