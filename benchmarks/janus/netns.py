"""A network namespace made for one benchmark run, with a veth pair and nothing else.

Janus (libnice) never offers or pairs loopback ICE candidates, so a Janus benchmark cannot
run on 127.0.0.1 as the other benchmarks do. Instead the run gets its own namespace
`gethory-bench-<pid>` (ip-netns(8)) holding `lo` and a veth pair whose BOTH ends are inside
it: `veth-srv` with 10.200.0.1/24 (the servers' media address) and `veth-bot` with
10.200.0.2/24 (the bots'). The namespace has no other interface and no route out, so no
packet can leave it. Between two of its own addresses the kernel normally delivers through
its loopback path (the bots' and Gethory's sockets); libnice's sockets send out of their
interface instead (observed: Janus's neighbour lookup for 10.200.0.2 happens on veth-srv),
so each end has a permanent neighbour entry for the other and accepts packets from a local
source address (`accept_local`, no `rp_filter`): Janus's packets cross the veth pair.

Creating a namespace needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's `ip`:
`NamespaceUnavailable` says which is missing. Any process (Janus, a Gethory server, a bot
process or the whole benchmark) runs inside with `ip netns exec <name> argv...`, which
`Namespace.command` builds; children inherit the namespace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SERVER_ADDRESS = "10.200.0.1"  # where Janus and the Gethory server gather candidates
BOT_ADDRESS = "10.200.0.2"  # where the bots gather theirs
PREFIX_LENGTH = 24
SERVER_LINK = "veth-srv"
BOT_LINK = "veth-bot"
NAME_PREFIX = "gethory-bench-"
# Set in the environment of a process started by `Namespace.command`, so that process knows
# it is inside (the namespace of a process is not otherwise named anywhere it can read).
ENV_NAME = "GETHORY_BENCH_NETNS"


class NamespaceUnavailable(RuntimeError):
    """A namespace cannot be made here: not root, no `ip`, or `ip` refused (message says)."""


def ip_command() -> str:
    """The path of iproute2's `ip`; NamespaceUnavailable when it is not installed."""
    found = shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if Path(p).is_file()), None
    )
    if found is None:
        raise NamespaceUnavailable(
            "iproute2's `ip` is not installed (Debian: apt-get install -y iproute2); "
            "the Janus comparison needs it to make its network namespace"
        )
    return found


def current_namespace() -> str | None:
    """The bench namespace this process runs in (set by `Namespace.command`), or None."""
    name = os.environ.get(ENV_NAME)
    return name if name and name.startswith(NAME_PREFIX) else None


@dataclass(frozen=True)
class Namespace:
    """A named network namespace made by `bench_namespace` (or found via `inside`)."""

    name: str
    ip: str

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside this namespace: `ip netns exec <name> env GETHORY_BENCH_NETNS=...`.

        Only root may run it (setns(2) needs CAP_SYS_ADMIN)."""
        return [self.ip, "netns", "exec", self.name, "env", f"{ENV_NAME}={self.name}", *argv]

    @classmethod
    def inside(cls) -> Namespace | None:
        """This process's bench namespace, when it was started by `command`."""
        name = current_namespace()
        return None if name is None else cls(name, ip_command())


def _run(ip: str, *args: str) -> None:
    done = subprocess.run([ip, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise NamespaceUnavailable(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")


def _require_root() -> None:
    if os.geteuid() != 0:
        raise NamespaceUnavailable(
            "the Janus comparison needs root to create its network namespace "
            "(ip netns add); run it as root, e.g. `sudo .venv/bin/python -m "
            "benchmarks.scenarios.vs_janus`"
        )


@contextlib.contextmanager
def bench_namespace(name: str | None = None) -> Iterator[Namespace]:
    """Create `gethory-bench-<pid>` (or `name`) with lo up and the veth pair, yield it, and
    delete it afterwards (which also deletes the veth pair and ends nothing else: processes
    still inside keep running, in a namespace nothing can reach).

    Raises NamespaceUnavailable when not root, `ip` is missing, or a step fails (e.g. a
    namespace of that name exists already: a previous run of this pid that was killed)."""
    _require_root()
    ip = ip_command()
    namespace = Namespace(name or f"{NAME_PREFIX}{os.getpid()}", ip)
    _run(ip, "netns", "add", namespace.name)
    try:
        _configure(namespace)
        yield namespace
    finally:
        with contextlib.suppress(NamespaceUnavailable):
            _run(ip, "netns", "delete", namespace.name)


def _configure(namespace: Namespace) -> None:
    ip, ns = namespace.ip, namespace.name
    _run(ip, "-n", ns, "link", "set", "lo", "up")  # the HTTP signaling goes over 127.0.0.1
    _run(ip, "-n", ns, "link", "add", SERVER_LINK, "type", "veth", "peer", "name", BOT_LINK)
    for link, address in ((SERVER_LINK, SERVER_ADDRESS), (BOT_LINK, BOT_ADDRESS)):
        _run(ip, "-n", ns, "addr", "add", f"{address}/{PREFIX_LENGTH}", "dev", link)
        _run(ip, "-n", ns, "link", "set", link, "up")
    # libnice binds its sockets to the interface of the address (Janus's checks leave by
    # veth-srv, not by the kernel's local path), so one end must reach the other's address
    # over the wire: ARP cannot (the peer's reply to a local address takes the local path),
    # hence permanent neighbour entries; and the receiving end must accept a packet whose
    # source is one of its own namespace's addresses (accept_local) with no reverse-path
    # check (rp_filter, whose effective value is the maximum of `all` and the interface's).
    for link, peer_link, peer_address in (
        (SERVER_LINK, BOT_LINK, BOT_ADDRESS),
        (BOT_LINK, SERVER_LINK, SERVER_ADDRESS),
    ):
        mac = _mac_address(namespace, peer_link)
        _run(
            ip,
            "-n",
            ns,
            "neigh",
            "replace",
            peer_address,
            "lladdr",
            mac,
            "dev",
            link,
            "nud",
            "permanent",
        )
    settings = [
        f"net.ipv4.conf.{link}.{key}={value}"
        for link in (SERVER_LINK, BOT_LINK)
        for key, value in (("accept_local", 1), ("rp_filter", 0))
    ]
    _run(ip, "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=0", *settings)


def _mac_address(namespace: Namespace, link: str) -> str:
    path = "/sys/class/net/{}/address"
    done = subprocess.run(
        [namespace.ip, "netns", "exec", namespace.name, "cat", path.format(link)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise NamespaceUnavailable(f"cannot read the MAC address of {link}: {done.stderr}")
    return done.stdout.strip()
