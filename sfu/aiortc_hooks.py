"""Process-wide adaptations of aiortc/aioice, the only module that touches their internals.

Pinned to aiortc==1.16.0 and aioice==0.13.0 (see pyproject.toml); `check_internals()` fails
loudly if an upgrade moves anything relied on here, and a test calls it.

What is touched, and why:

- `aioice.ice.get_host_addresses(use_ipv4, use_ipv6)`: `Connection.gather_candidates` looks
  this module-level function up by name every time it gathers, and the stock one drops
  127.0.0.1 and ::1. `use_host_addresses` swaps that attribute, so every gathering that starts
  afterwards binds host candidates on exactly the configured addresses (loopback included),
  for both the offerer and the answerer, without subclassing aiortc's ICE gatherer.
- `aiortc.rtcicetransport.RTCIceGatherer.getLocalCandidates`: aiortc writes the candidates and
  the `c=` line of every SDP it produces from this method. `use_announced_address` wraps it to
  advertise a 1:1 NAT's public address instead of the bound one. aioice keeps the bound
  address internally, so pairing and its sockets are unaffected.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
import ipaddress
from collections.abc import Callable, Sequence
from typing import Protocol

import aioice.ice
import aiortc.rtcpeerconnection
from aiortc.rtcicetransport import RTCIceCandidate, RTCIceGatherer

PINNED_VERSIONS: dict[str, str] = {"aiortc": "1.16.0", "aioice": "0.13.0"}


class HostAddressesFn(Protocol):
    def __call__(self, use_ipv4: bool, use_ipv6: bool) -> list[str]: ...


LocalCandidatesFn = Callable[[RTCIceGatherer], list[RTCIceCandidate]]

# Captured at import, before any hook, so restoring never depends on call order.
_STOCK_GET_HOST_ADDRESSES: HostAddressesFn = aioice.ice.get_host_addresses
_STOCK_GET_LOCAL_CANDIDATES: LocalCandidatesFn = RTCIceGatherer.getLocalCandidates

_host_addresses: tuple[str, ...] = ()
_announced_address: str | None = None


def use_host_addresses(addresses: Sequence[str]) -> None:
    """Gather ICE host candidates only on `addresses` (loopback allowed); empty restores aioice.

    Applies to every gathering that starts after the call, in the whole process.
    `use_ipv4`/`use_ipv6` of an aioice Connection still filter the list. Raises ValueError on
    an address that is not a literal IP (aioice would only log a failed bind and go on).
    """
    global _host_addresses
    wanted = tuple(str(ipaddress.ip_address(address)) for address in addresses)
    if wanted == _host_addresses:
        return
    if not wanted:
        aioice.ice.get_host_addresses = _STOCK_GET_HOST_ADDRESSES
    else:
        aioice.ice.get_host_addresses = _fixed_host_addresses(wanted)
    _host_addresses = wanted


def active_host_addresses() -> tuple[str, ...]:
    """The addresses set by `use_host_addresses`, or () while aioice's own gathering applies."""
    return _host_addresses


def _fixed_host_addresses(addresses: tuple[str, ...]) -> HostAddressesFn:
    versions = [(address, ipaddress.ip_address(address).version) for address in addresses]

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [
            address
            for address, version in versions
            if (version == 4 and use_ipv4) or (version == 6 and use_ipv6)
        ]

    return get_host_addresses


def use_announced_address(address: str | None) -> None:
    """Advertise `address` in place of gathered host candidates of its IP family (1:1 NAT).

    For a host such as EC2 whose public IP maps to one private IP: bind with
    `use_host_addresses([private_ip])` (or "0.0.0.0") and announce the public IP. Every SDP
    produced afterwards carries the announced address; None restores aiortc's own behaviour.
    """
    global _announced_address
    announced = None if address is None else str(ipaddress.ip_address(address))
    if announced == _announced_address:
        return
    replacement = (
        _STOCK_GET_LOCAL_CANDIDATES
        if announced is None
        else _announcing_local_candidates(announced)
    )
    # Replacing a method on its class is what mypy forbids and what this hook is for.
    RTCIceGatherer.getLocalCandidates = replacement  # type: ignore[method-assign,assignment]
    _announced_address = announced


def active_announced_address() -> str | None:
    """The address set by `use_announced_address`, or None."""
    return _announced_address


def _announcing_local_candidates(announced: str) -> LocalCandidatesFn:
    version = ipaddress.ip_address(announced).version

    def getLocalCandidates(self: RTCIceGatherer) -> list[RTCIceCandidate]:
        return [
            dataclasses.replace(candidate, ip=announced)
            if candidate.type == "host" and ipaddress.ip_address(candidate.ip).version == version
            else candidate
            for candidate in _STOCK_GET_LOCAL_CANDIDATES(self)
        ]

    return getLocalCandidates


def installed_versions() -> dict[str, str]:
    return {name: importlib.metadata.version(name) for name in PINNED_VERSIONS}


def check_internals() -> None:
    """Raise RuntimeError if aiortc/aioice no longer have what this module relies on."""
    problems: list[str] = []

    stock_hosts = _STOCK_GET_HOST_ADDRESSES
    if list(inspect.signature(stock_hosts).parameters) != ["use_ipv4", "use_ipv6"]:
        problems.append("aioice.ice.get_host_addresses(use_ipv4, use_ipv6) changed signature")
    gather = getattr(aioice.ice.Connection, "gather_candidates", None)
    # Swapping the module attribute only works while gathering looks the name up globally.
    if gather is None or "get_host_addresses" not in gather.__code__.co_names:
        problems.append(
            "aioice.ice.Connection.gather_candidates no longer calls get_host_addresses"
        )

    candidate_fields = {f.name for f in dataclasses.fields(RTCIceCandidate)}
    if not {"ip", "type"} <= candidate_fields:
        problems.append("aiortc RTCIceCandidate lost its ip/type fields")
    if list(inspect.signature(_STOCK_GET_LOCAL_CANDIDATES).parameters) != ["self"]:
        problems.append("aiortc RTCIceGatherer.getLocalCandidates(self) changed signature")
    describe = getattr(aiortc.rtcpeerconnection, "add_transport_description", None)
    # The announced address reaches the SDP only while it is written from getLocalCandidates.
    if describe is None or "getLocalCandidates" not in describe.__code__.co_names:
        problems.append(
            "aiortc.rtcpeerconnection.add_transport_description no longer uses getLocalCandidates"
        )

    if problems:
        raise RuntimeError(
            "aiortc/aioice internals changed: "
            + "; ".join(problems)
            + f" (installed {installed_versions()}, verified against {PINNED_VERSIONS})"
        )
