"""Answering a server's ICE consent checks without aioice's parse and build (RFC 7675).

A server checks consent on every bot's selected pair (Gethory every `consent_interval_seconds`,
1 s by default, docs/protocol.md); aioice answers each with a full STUN parse, a
`Message` object, HMAC-SHA1 twice, CRC-32 twice and a pair lookup (≈40 µs of Python here).
`consent_response` answers the requests that would change nothing in aioice's state — a
Binding request on the nominated pair, from its remote address, with the expected USERNAME,
the peer's role as ICE negotiated it, no USE-CANDIDATE, a valid MESSAGE-INTEGRITY — with the
bytes aioice would send (RFC 8489 §14: XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT).
For anything else it returns None and the caller hands the request to aioice as before.

aioice behaviour relied on (`Connection.request_received`, `check_incoming`): a request that
authenticates (`_valid_username`: "<local ufrag>:<remote ufrag>"; MESSAGE-INTEGRITY with the
local password) with no role conflict is answered with a Binding success carrying
XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and FINGERPRINT; on a pair that already succeeded and
without USE-CANDIDATE, `check_incoming` changes nothing.
"""

from __future__ import annotations

import binascii
import hmac
import socket
import struct
from typing import Any

COOKIE = 0x2112A442
BINDING_REQUEST = b"\x00\x01"
BINDING_SUCCESS = 0x0101
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
XOR_MAPPED_ADDRESS = 0x0020
USE_CANDIDATE = 0x0025
FINGERPRINT = 0x8028
ICE_CONTROLLED = 0x8029
ICE_CONTROLLING = 0x802A
FINGERPRINT_XOR = 0x5354554E

_HEADER = struct.Struct("!HHI12s")
_ATTRIBUTE = struct.Struct("!HH")
_LENGTH = struct.Struct("!H")


def consent_response(connection: Any, protocol: Any, data: bytes, addr: Any) -> bytes | None:
    """The Binding success response aioice would send to `data` (from `addr`, received on
    `protocol`, an aioice StunProtocol of `connection`), or None if aioice must see it."""
    if len(data) < 20 or data[:2] != BINDING_REQUEST or connection._closing:
        return None
    _, length, cookie, transaction_id = _HEADER.unpack_from(data)
    if cookie != COOKIE or length != len(data) - 20:
        return None
    pair = connection._nominated.get(protocol.local_candidate.component)
    if pair is None or pair.protocol is not protocol:
        return None
    remote = pair.remote_addr
    if addr[1] != remote[1] or addr[0] != remote[0] or "." not in addr[0]:
        return None  # IPv6 and other paths: aioice
    username = integrity_at = None
    roles = set()
    position = 20
    while position + 4 <= len(data):
        kind, size = _ATTRIBUTE.unpack_from(data, position)
        value = position + 4
        if kind == USERNAME:
            username = data[value : value + size]
        elif kind in (ICE_CONTROLLED, ICE_CONTROLLING, USE_CANDIDATE):
            roles.add(kind)
        elif kind == MESSAGE_INTEGRITY:
            integrity_at = position
            break
        position = value + size + (-size % 4)
    if integrity_at is None or len(data) < integrity_at + 24:
        return None
    expected_role = ICE_CONTROLLED if connection.ice_controlling else ICE_CONTROLLING
    if roles != {expected_role}:
        return None  # a role conflict, a nomination, or no role: aioice decides
    local_ufrag = connection.local_username
    if username != f"{local_ufrag}:{connection.remote_username}".encode():
        return None
    key = connection.local_password.encode()
    signed = data[:2] + _LENGTH.pack(integrity_at + 24 - 20) + data[4:integrity_at]
    digest = hmac.digest(key, signed, "sha1")
    if not hmac.compare_digest(digest, data[integrity_at + 4 : integrity_at + 24]):
        return None  # aioice answers 401
    return _success(transaction_id, addr[0], addr[1], key)


def _success(transaction_id: bytes, host: str, port: int, key: bytes) -> bytes:
    mapped = struct.pack(
        "!HHBBH4s",
        XOR_MAPPED_ADDRESS,
        8,
        0,
        1,  # IPv4
        port ^ (COOKIE >> 16),
        (int.from_bytes(socket.inet_aton(host), "big") ^ COOKIE).to_bytes(4, "big"),
    )
    # MESSAGE-INTEGRITY over the header (length counting it) and the attributes before it.
    header = _HEADER.pack(BINDING_SUCCESS, len(mapped) + 24, COOKIE, transaction_id)
    integrity = _ATTRIBUTE.pack(MESSAGE_INTEGRITY, 20) + hmac.digest(key, header + mapped, "sha1")
    # FINGERPRINT over everything before it, the length counting it too (RFC 8489 §14.7).
    body = mapped + integrity
    header = _HEADER.pack(BINDING_SUCCESS, len(body) + 8, COOKIE, transaction_id)
    crc = binascii.crc32(header + body) ^ FINGERPRINT_XOR
    return header + body + _ATTRIBUTE.pack(FINGERPRINT, 4) + crc.to_bytes(4, "big")
