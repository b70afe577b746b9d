"""How a bot enters a Janus VideoRoom: the `RoomSignaling` contract over Janus's HTTP API.

One Janus session and one `janus.plugin.videoroom` handle per bot, as janus.js makes for a
browser (Janus API: https://janus.conf.meetecho.com/docs/rest.html, VideoRoom requests in
src/plugins/janus_videoroom.c of meetecho/janus-gateway 1.1):

- `POST /janus {"janus": "create"}` → `{"janus": "success", "data": {"id": session}}`;
  `POST /janus/<session> {"janus": "attach", "plugin": "janus.plugin.videoroom"}` → handle.
- Requests to the plugin (`POST /janus/<session>/<handle> {"janus": "message", "body",
  "jsep"?}`) are acknowledged (`ack`) and answered later by an `event` carrying the same
  `transaction`, which arrives on the session's long poll (`GET /janus/<session>?maxev=N`,
  answered within 30 s, with a `keepalive` when nothing happened). A session with no request
  for `session_timeout` (60 s) is destroyed, hence a keepalive every 25 s.
- Publisher (the speaker, offerer): `join` with `ptype: "publisher"` → `joined` (its feed id
  in `id`); `configure {audio: true, video: false}` with the bot's offer → an event whose jsep
  is Janus's answer.
- Subscriber (a listener, answerer: Janus offers): `join` with `ptype: "subscriber"` and
  `streams: [{feed}]` → `attached` with Janus's offer; the bot answers
  (`bot.answer(offer)`), `start` with that answer → `started`.

aiortc gathers all its candidates before it returns an SDP (no trickle), which Janus accepts:
a jsep with candidates inline and no `trickle` message. Errors: a refused API call
(`{"janus": "error", "error": {code, reason}}`) or plugin request (`error_code`, `error` in
the event) becomes `JoinFailed("janus_<code>", reason)`; no answer within REQUEST_SECONDS is
`JoinFailed("timeout", ...)`, no HTTP connection `connect_failed`, ICE/DTLS that does not
come up `media_failed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Sequence
from typing import Any, Protocol

import aiohttp

from benchmarks.signaling import JoinFailed

PLUGIN = "janus.plugin.videoroom"
REQUEST_SECONDS = 30.0  # one request and its event; joins take milliseconds when idle
KEEPALIVE_SECONDS = 25.0  # Janus's session_timeout is 60 s
POLL_EVENTS = 10  # events one long poll may return at once (maxev)
POLL_TIMEOUT = aiohttp.ClientTimeout(total=75.0)  # Janus answers a long poll within 30 s

_transactions = itertools.count(1)

JsonObject = dict[str, Any]


class JanusBot(Protocol):
    """What Janus signaling needs of a bot (media_bots.ListenerBot / SpeakerBot)."""

    async def offer(self) -> str: ...
    async def answer(self, offer_sdp: str) -> str: ...
    async def accept(self, answer_sdp: str) -> None: ...
    async def connected(self) -> None: ...


def unlimited_http() -> aiohttp.ClientSession:
    """A client session for many bots at once: every bot holds one long poll open, so the
    connection pool must not be bounded (aiohttp's default limit of 100 would deadlock)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


class JanusVideoRoomSignaling:
    """One bot in a Janus VideoRoom, as a publisher or a subscriber.

    `api_url`: `http://host:port/janus`; `room_id`: an existing room; `publisher`: True for
    the speaker, False for a listener; `feeds`: the publisher ids a listener subscribes to
    (None: every publisher in the room at the time of joining, from `listparticipants`);
    `http`: a shared client session (see `unlimited_http`), or None for one of its own.
    After `enter`, `feed_id` is a publisher's id in the room.
    """

    def __init__(
        self,
        api_url: str,
        room_id: int,
        *,
        publisher: bool,
        display: str,
        feeds: Sequence[int] | None = None,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.room_id = room_id
        self.publisher = publisher
        self.display = display
        self.feeds = None if feeds is None else list(feeds)
        self.slot_switches = 0  # Janus has no slots: a subscriber's streams are fixed
        self.join_sent_at: float | None = None
        self.feed_id: int | None = None
        self.hangups: list[str] = []  # `hangup` events' reasons (media torn down by Janus)
        self._http = http
        self._own_http = http is None
        self._session: int | None = None
        self._handle: int | None = None
        self._pending: dict[str, asyncio.Future[JsonObject]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # --- the RoomSignaling contract --------------------------------------------------------

    async def enter(self, bot: JanusBot) -> None:
        """Create a session, attach, join and negotiate, then wait for ICE+DTLS (raises
        JoinFailed)."""
        if self._http is None:
            self._http = unlimited_http()
        self.join_sent_at = time.monotonic()
        self._session = int((await self._call(self.api_url, {"janus": "create"}))["data"]["id"])
        self._tasks = [
            asyncio.create_task(self._poll()),
            asyncio.create_task(self._keepalive()),
        ]
        attached = await self._call(self._session_url, {"janus": "attach", "plugin": PLUGIN})
        self._handle = int(attached["data"]["id"])
        if self.publisher:
            await self._publish(bot)
        else:
            await self._subscribe(bot)
        try:
            await bot.connected()
        except (RuntimeError, TimeoutError) as error:
            raise JoinFailed("media_failed", str(error) or "ICE/DTLS did not come up") from None

    async def leave(self) -> None:
        """Destroy the session (Janus hangs up its handle) and stop polling. Idempotent."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._session is not None and self._http is not None:
            with contextlib.suppress(JoinFailed, aiohttp.ClientError):
                await self._call(self._session_url, {"janus": "destroy"})
            self._session = None
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None

    # --- VideoRoom requests ------------------------------------------------------------------

    async def _publish(self, bot: JanusBot) -> None:
        body = {"request": "join", "ptype": "publisher", "room": self.room_id}
        joined = await self._message(body | {"display": self.display})
        self.feed_id = int(joined["plugindata"]["data"]["id"])
        jsep = {"type": "offer", "sdp": await bot.offer()}
        configured = await self._message(
            {"request": "configure", "audio": True, "video": False}, jsep
        )
        await bot.accept(_sdp_of(configured, "answer"))

    async def _subscribe(self, bot: JanusBot) -> None:
        feeds = self.feeds if self.feeds is not None else await self._publishers()
        if not feeds:
            raise JoinFailed("no_publisher", f"room {self.room_id} has no publisher yet")
        body = {
            "request": "join",
            "ptype": "subscriber",
            "room": self.room_id,
            "streams": [{"feed": feed} for feed in feeds],
        }
        attached = await self._message(body)
        answer = await bot.answer(_sdp_of(attached, "offer"))
        await self._message({"request": "start"}, {"type": "answer", "sdp": answer})

    async def _publishers(self) -> list[int]:
        """The ids of the room's current publishers (`listparticipants` is synchronous: its
        answer comes in the POST's response, not as an event)."""
        body = {"request": "listparticipants", "room": self.room_id}
        reply = await self._call(self._handle_url, {"janus": "message", "body": body})
        data = _plugin_data(reply)
        return [int(p["id"]) for p in data.get("participants", []) if p.get("publisher")]

    # --- Janus API plumbing --------------------------------------------------------------------

    @property
    def _session_url(self) -> str:
        return f"{self.api_url}/{self._session}"

    @property
    def _handle_url(self) -> str:
        return f"{self.api_url}/{self._session}/{self._handle}"

    async def _call(self, url: str, request: JsonObject) -> JsonObject:
        """POST one Janus API request; its immediate reply (`success` or `ack`)."""
        assert self._http is not None
        request = request | {"transaction": f"t{next(_transactions)}"}
        try:
            async with asyncio.timeout(REQUEST_SECONDS):
                async with self._http.post(url, json=request) as response:
                    reply: JsonObject = await response.json(content_type=None)
        except TimeoutError:
            raise JoinFailed(
                "timeout", f"Janus did not answer {request['janus']} in time"
            ) from None
        except aiohttp.ClientError as error:
            raise JoinFailed("connect_failed", f"Janus API at {url}: {error}") from None
        _raise_on_error(reply)
        return reply

    async def _message(self, body: JsonObject, jsep: JsonObject | None = None) -> JsonObject:
        """Send a plugin request and wait for the event answering it (same transaction)."""
        assert self._http is not None
        transaction = f"t{next(_transactions)}"
        request: JsonObject = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            request["jsep"] = jsep
        answered: asyncio.Future[JsonObject] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = answered
        try:
            async with asyncio.timeout(REQUEST_SECONDS):
                async with self._http.post(self._handle_url, json=request) as response:
                    reply: JsonObject = await response.json(content_type=None)
                _raise_on_error(reply)
                event: JsonObject = await answered
        except TimeoutError:
            raise JoinFailed("timeout", f"no answer to {body['request']} from Janus") from None
        except aiohttp.ClientError as error:
            raise JoinFailed("connect_failed", f"Janus API: {error}") from None
        finally:
            self._pending.pop(transaction, None)
        _raise_on_error(event)
        return event

    async def _poll(self) -> None:
        """Long-poll the session's events for as long as the bot is in the room."""
        assert self._http is not None
        url = f"{self._session_url}?maxev={POLL_EVENTS}"
        while True:
            try:
                async with self._http.get(url, timeout=POLL_TIMEOUT) as response:
                    events = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError) as error:
                self._fail_pending(JoinFailed("connect_failed", f"Janus long poll: {error}"))
                return
            for event in events if isinstance(events, list) else [events]:
                self._dispatch(event)

    def _dispatch(self, event: JsonObject) -> None:
        kind = event.get("janus")
        if kind == "hangup":
            self.hangups.append(str(event.get("reason", "")))
        waiting = self._pending.get(str(event.get("transaction")))
        if kind == "event" and waiting is not None and not waiting.done():
            waiting.set_result(event)

    def _fail_pending(self, failure: JoinFailed) -> None:
        for waiting in self._pending.values():
            if not waiting.done():
                waiting.set_exception(failure)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_SECONDS)  # a period, not standing in for an event
            with contextlib.suppress(JoinFailed):
                await self._call(self._session_url, {"janus": "keepalive"})


def _plugin_data(reply: JsonObject) -> JsonObject:
    data: JsonObject = (reply.get("plugindata") or {}).get("data") or {}
    return data


def _raise_on_error(reply: JsonObject) -> None:
    """JoinFailed for a Janus core error or a VideoRoom error event."""
    if reply.get("janus") == "error":
        error = reply.get("error") or {}
        raise JoinFailed(f"janus_{error.get('code', 'error')}", str(error.get("reason", reply)))
    data = _plugin_data(reply)
    if "error_code" in data or "error" in data:
        code = data.get("error_code", "error")
        raise JoinFailed(f"janus_{code}", str(data.get("error", data)))


def _sdp_of(event: JsonObject, kind: str) -> str:
    jsep = event.get("jsep") or {}
    if jsep.get("type") != kind or not jsep.get("sdp"):
        raise JoinFailed("janus_no_jsep", f"Janus sent no {kind}: {_plugin_data(event)}")
    return str(jsep["sdp"])
