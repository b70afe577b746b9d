"""Which client a request comes from when Gethory runs behind a reverse proxy
(TRUSTED_PROXIES).

The rule, as nginx's `real_ip_recursive on`, Werkzeug's `ProxyFix` and aio-libs'
aiohttp-remotes `XForwardedStrict` apply it: the forwarding headers are believed only when
the TCP peer is a trusted proxy, and then `X-Forwarded-For` is read from the right, each hop
appended by the proxy it passed through; the first address that is not itself a trusted proxy
is the client. Everything to its left was written by the client (or by proxies we do not know)
and can be forged, so it is never read: a client sending `X-Forwarded-For: 1.2.3.4` through a
proxy that appends its address (`1.2.3.4, 5.6.7.8`) is 5.6.7.8. aiohttp-remotes itself does
not fit: it needs the exact number of hops and answers 400 when they differ or the peer is
not trusted, where an untrusted peer must simply have its headers ignored.

- The scheme is the right-most `X-Forwarded-Proto` entry (the one our own proxy wrote, as
  `ProxyFix(x_proto=1)` reads it), and only `http` or `https`; it counts with or without an
  `X-Forwarded-For`.
- Without `X-Forwarded-For`, the standard `Forwarded` header (RFC 7239) is read the same way,
  its elements (aiohttp's parser, `BaseRequest.forwarded`) from the right by their `for=`, the
  scheme being the client's element's `proto=`. `X-Forwarded-For` wins when both are present:
  Caddy, nginx and AWS load balancers write it, and may pass a client's `Forwarded` through.
- Garbage where the rule has to read (not an IP address, `unknown` or an obfuscated `_name`
  of RFC 7239 §6.3, more than MAX_HOPS trusted hops) and the request keeps its peer address
  and scheme: never an error, and garbage to the left of the client is never even looked at,
  so a client cannot push itself into the proxy's shared address with it.
- IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, a dual-stack socket's view of an IPv4 peer)
  count as the IPv4 address, so `10.0.0.0/8` matches them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from api.log_context import bind_client
from api.settings import IpNetwork, Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Hops read from the right before giving up: a real chain is two or three proxies deep.
MAX_HOPS = 16
SCHEMES = frozenset({"http", "https"})
# "[ffff:…:255.255.255.255%zone]:65535" is far below this; anything longer is not an address.
MAX_ADDRESS_CHARS = 100


@dataclass(frozen=True)
class Forwarded:
    """Who the trusted proxies say the client is: its IP address, and the scheme it used
    (each None when they did not say)."""

    remote: str | None
    scheme: str | None


NOTHING = Forwarded(None, None)


class TrustedProxies:
    """Applies the trusted-proxy rule for a set of networks (`Settings.trusted_proxies`)."""

    def __init__(self, networks: Iterable[IpNetwork]) -> None:
        self._networks = tuple(networks)

    def trusts(self, address: IpAddress) -> bool:
        return any(address in network for network in self._networks)

    def resolve(self, request: web.BaseRequest) -> Forwarded:
        """What the request's TCP peer, if a trusted proxy, says of the client; both fields
        None when the peer is not trusted, forwarded nothing, or what it forwarded cannot be
        read. The address and the scheme are read separately: a proxy may send either."""
        if not self._networks:
            return NOTHING
        peer = parse_address(peer_of(request))
        if peer is None or not self.trusts(peer):
            return NOTHING
        if hdrs.X_FORWARDED_FOR in request.headers or hdrs.X_FORWARDED_PROTO in request.headers:
            found = self._client(_x_forwarded_for(request))
            remote = str(found[0]) if found is not None else None
            return Forwarded(remote, _scheme(_last_proto(request)))
        elements = request.forwarded[::-1][: MAX_HOPS + 1]
        found = self._client([element.get("for", "") for element in elements])
        if found is None:
            return NOTHING
        address, index = found
        return Forwarded(str(address), _scheme(elements[index].get("proto")))

    def _client(self, hops: list[str]) -> tuple[IpAddress, int] | None:
        """The client among `hops` (nearest first, at most MAX_HOPS + 1 of them) and its
        index, or None."""
        last: tuple[IpAddress, int] | None = None
        for index, hop in enumerate(hops[:MAX_HOPS]):
            address = parse_address(hop)
            if address is None:
                return None
            if not self.trusts(address):
                return address, index
            last = (address, index)
        if len(hops) > MAX_HOPS:
            return None  # every hop read was a trusted proxy, and there are more
        # Every hop is a trusted proxy: the farthest one is the client (nginx's rule too).
        return last


def forwarded_middleware(settings: Settings) -> Middleware:
    """Hand on the request with `remote` and `scheme` as the trusted-proxy rule finds them
    (`request.clone`), so rate limits, session IPs and Secure cookies see the client; also
    binds the client's address for the log (api/log_context.py)."""
    proxies = TrustedProxies(settings.trusted_proxies)

    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        seen = proxies.resolve(request)
        # One clone with both: a clone made from a clone takes back the peer's address
        # unless `remote` is passed again (aiohttp's BaseRequest.clone).
        remote = seen.remote or request.remote
        if seen.scheme is not None and remote is not None:
            request = request.clone(remote=remote, scheme=seen.scheme)
        elif seen.remote is not None:
            request = request.clone(remote=seen.remote)
        bind_client(request.remote)
        return await handler(request)

    return forwarded


def peer_of(request: web.BaseRequest) -> str | None:
    """The TCP peer's address, whatever an earlier `clone(remote=…)` said."""
    transport = request.transport
    if transport is not None:
        peername = transport.get_extra_info("peername")
        if isinstance(peername, list | tuple) and peername:
            return str(peername[0])
    return request.remote


def parse_address(text: str | None) -> IpAddress | None:
    """An IP address as forwarding headers write it: bare, `[v6]`, `[v6]:port` or
    `v4:port`; IPv4-mapped IPv6 becomes IPv4. None for anything else."""
    if text is None:
        return None
    text = text.strip()
    if not text or len(text) > MAX_ADDRESS_CHARS:
        return None
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port; a bare IPv6 has several colons
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _x_forwarded_for(request: web.BaseRequest) -> list[str]:
    """The hops, nearest first, at most MAX_HOPS + 1 (the rest is never read). Several header
    lines are one comma-separated list in order (RFC 9110 §5.3)."""
    joined = ",".join(request.headers.getall(hdrs.X_FORWARDED_FOR, ()))
    return joined.rsplit(",", MAX_HOPS + 1)[::-1][: MAX_HOPS + 1]


def _last_proto(request: web.BaseRequest) -> str | None:
    values = request.headers.getall(hdrs.X_FORWARDED_PROTO, ())
    if not values:
        return None
    return values[-1].rpartition(",")[2]


def _scheme(proto: str | None) -> str | None:
    if proto is None:
        return None
    scheme = proto.strip().lower()
    return scheme if scheme in SCHEMES else None
