"""JSON nested absurdly deep is refused as invalid JSON, on every path that decodes it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from api.errors import InvalidJson
from api.request_body import MAX_JSON_DEPTH, check_depth, parse_json
from tests.client import ApiClient
from tests.people import Person

JSON = {"Content-Type": "application/json"}


async def test_fifty_kilobytes_of_brackets_is_400_not_500(client: ApiClient) -> None:
    for raw in (b"[" * 50_000, b'{"a":' * 10_000, b"[" * 30_000 + b"]" * 30_000):
        # Signed out, on the first endpoint anyone can reach.
        reply = await client.post("/api/auth/login", data=raw, headers=JSON)
        assert (reply.status, reply.error_code) == (400, "invalid_json"), raw[:10]


async def test_deep_but_parseable_json_is_refused_before_validation(client: ApiClient) -> None:
    deep = b'{"email": ' + b"[" * 200 + b"]" * 200 + b', "password": "x"}'
    reply = await client.post("/api/auth/login", data=deep, headers=JSON)
    assert (reply.status, reply.error_code) == (400, "invalid_json")
    # Ordinary nesting is untouched: a wrong type is still a 422 with field details.
    shallow = b'{"email": [[["a@b.c"]]], "password": "x"}'
    reply = await client.post("/api/auth/login", data=shallow, headers=JSON)
    assert (reply.status, reply.error_code) == (422, "validation_failed")


def test_depth_limit_is_exact_and_iterative() -> None:
    at_limit: object = []
    for _ in range(MAX_JSON_DEPTH - 1):
        at_limit = [at_limit]
    check_depth(at_limit)
    with pytest.raises(InvalidJson):
        check_depth([at_limit])
    with pytest.raises(InvalidJson):
        check_depth({"a": {"b": [at_limit]}})
    # Far beyond the interpreter's recursion limit, still a clean refusal.
    with pytest.raises(InvalidJson):
        parse_json("[" * 200_000 + "]" * 200_000)


async def test_deeply_nested_socket_payload_is_survived(
    person: Callable[[str], Awaitable[Person]],
) -> None:
    """python-socketio decodes socket JSON itself: a bomb must not take anything down."""
    ann = await person("Ann")
    room = await ann.create_room()
    bomb = await ann.socket()
    # An EVENT packet with an ack id, written by hand: the client library cannot even encode it.
    await bomb.sio.eio.send('21["join",' + "[" * 60_000 + "]" * 60_000 + "]")
    # Parseable but deep: decoded by socketio, then refused by our own validation.
    ack = await bomb.call("join", {"roomId": room, "user": _nested(100)})
    assert ack["ok"] is False and ack["error"]["code"] == "invalid_json", ack
    # The server and other connections carry on.
    other = await ann.socket()
    state = await other.join(room)
    assert state is not None
    reply = await ann.http.get("/api/health")
    assert reply.status == 200


def _nested(depth: int) -> object:
    value: object = {}
    for _ in range(depth):
        value = {"x": value}
    return value
