"""Janus 1.1.2 (Debian package `janus`) as a benchmark server: config, start, probe, stop.

`janus_server(workdir, JanusSettings(...))` writes a config folder of its own (nothing from
/etc/janus is read) and runs `janus -C <dir>/janus.jcfg -F <dir>` in the foreground until the
block ends, when it gets SIGINT (SIGKILL after 10 s). What the config holds, following the
sample files shipped in /etc/janus (conf/*.jcfg.sample.in of meetecho/janus-gateway):

- janus.jcfg: `event_loops` (None: stock, a thread and GLib loop per handle; N: N shared
  loops), `interface` and `ice_enforce_list` set to the media address only (an enforce list
  wins over `ice_ignore_list`, left at its default "vmnet"), no STUN/TURN server, mDNS
  candidates ignored, `nice_debug = false`, IPv6 off, event handlers off; every plugin but
  libjanus_videoroom.so, every transport but libjanus_http.so and every logger disabled.
- janus.transport.http.jcfg: the plain HTTP API on 127.0.0.1:<port>, base path /janus,
  compact JSON, admin API off.
- janus.plugin.videoroom.jcfg: one room (`room_id`), audio only in practice (the bots offer
  no video), `audiocodec = "opus"`, `audiolevel_ext = true`, `publishers` as given, no
  recording, notifications of joining participants off.

CPU and RSS come from /proc/<pid> (`sample`): Janus is one process with many threads, and
utime + stime of /proc/<pid>/stat counts them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks.bots import (
    LOOPBACK,
    ProcessSample,
    ServerProcess,
    die_with_parent,
    sample_process,
    stop_process,
)
from benchmarks.janus.netns import SERVER_ADDRESS

LIB_DIR = Path("/usr/lib/x86_64-linux-gnu/janus")  # Debian's multiarch plugin folders
START_SECONDS = 20.0
STOP_SECONDS = 10.0
ROOM_ID = 1234
KEPT_PLUGIN = "libjanus_videoroom.so"
KEPT_TRANSPORT = "libjanus_http.so"


class JanusUnavailable(RuntimeError):
    """Janus is not installed (or its plugin folders are not where Debian puts them)."""


@dataclass(frozen=True)
class JanusSettings:
    """What differs between the Janus runs. `event_loops`: None for stock, else the count."""

    http_port: int
    event_loops: int | None = None
    media_address: str = SERVER_ADDRESS
    room_id: int = ROOM_ID
    publishers: int = 16
    debug_level: int = 4  # info: joins and ICE state, nothing per packet
    nice_debug: bool = False  # libnice's own debug output, to diagnose ICE


def janus_binary() -> str:
    """The `janus` executable; JanusUnavailable with the install command when missing."""
    found = shutil.which("janus")
    if found is None or not (LIB_DIR / "plugins" / KEPT_PLUGIN).is_file():
        raise JanusUnavailable(
            "Janus is not installed: `apt-get install -y janus` (Debian 12 ships 1.1.2); "
            f"expected the janus binary and {LIB_DIR}/plugins/{KEPT_PLUGIN}"
        )
    return found


def _disabled(folder: str, kept: str | None) -> str:
    """Every library of LIB_DIR/folder but `kept`, comma-separated, as `disable` wants."""
    names = sorted(p.name for p in (LIB_DIR / folder).glob("*.so"))
    return ",".join(n for n in names if n != kept)


def write_config(folder: Path, settings: JanusSettings) -> Path:
    """Write janus.jcfg and the two plugin/transport files into `folder`; the jcfg's path."""
    folder.mkdir(parents=True, exist_ok=True)
    loops = "" if settings.event_loops is None else f"\tevent_loops = {settings.event_loops}\n"
    (folder / "janus.jcfg").write_text(
        "general: {\n"
        f'\tconfigs_folder = "{folder}"\n'
        f'\tplugins_folder = "{LIB_DIR}/plugins"\n'
        f'\ttransports_folder = "{LIB_DIR}/transports"\n'
        f'\tevents_folder = "{LIB_DIR}/events"\n'
        f'\tloggers_folder = "{LIB_DIR}/loggers"\n'
        f"\tdebug_level = {settings.debug_level}\n"
        "\tdebug_colors = false\n"
        f'\tinterface = "{settings.media_address}"\n'
        "\tsession_timeout = 60\n"
        f"{loops}"
        "\thide_dependencies = true\n"
        "}\n"
        "media: {\n\tipv6 = false\n}\n"
        "nat: {\n"
        f"\tnice_debug = {str(settings.nice_debug).lower()}\n"
        "\tignore_mdns = true\n"
        # Only the veth address: no loopback, no other interface, no STUN or TURN server.
        f'\tice_enforce_list = "{settings.media_address}"\n'
        "}\n"
        f'plugins: {{\n\tdisable = "{_disabled("plugins", KEPT_PLUGIN)}"\n}}\n'
        f'transports: {{\n\tdisable = "{_disabled("transports", KEPT_TRANSPORT)}"\n}}\n'
        f'loggers: {{\n\tdisable = "{_disabled("loggers", None)}"\n}}\n'
        "events: {\n\tbroadcast = false\n}\n"
    )
    (folder / "janus.transport.http.jcfg").write_text(
        "general: {\n"
        '\tjson = "compact"\n'
        '\tbase_path = "/janus"\n'
        "\thttp = true\n"
        f"\tport = {settings.http_port}\n"
        f'\tip = "{LOOPBACK}"\n'
        "\thttps = false\n"
        "}\n"
        "admin: {\n\tadmin_http = false\n\tadmin_https = false\n}\n"
    )
    (folder / "janus.plugin.videoroom.jcfg").write_text(
        "general: {\n\tevents = false\n}\n"
        f"room-{settings.room_id}: {{\n"
        '\tdescription = "gethory-bench"\n'
        f"\tpublishers = {settings.publishers}\n"
        '\taudiocodec = "opus"\n'
        "\taudiolevel_ext = true\n"
        "\taudiolevel_event = false\n"
        "\tnotify_joining = false\n"
        "\trecord = false\n"
        "}\n"
    )
    return folder / "janus.jcfg"


@dataclass
class JanusServer:
    """A running Janus: its process, API URL (`http://127.0.0.1:<port>/janus`), settings."""

    server: ServerProcess  # what benchmarks.measurement samples (pid, log tail)
    settings: JanusSettings
    version: str | None = None  # `version_string` of GET /janus/info, once ready

    @property
    def api_url(self) -> str:
        return f"{self.server.base_url}/janus"

    @property
    def pid(self) -> int:
        return self.server.pid

    def sample(self) -> ProcessSample:
        """CPU seconds (all threads), threads and RSS of the Janus process, from /proc."""
        return sample_process(self.pid)

    async def wait_ready(self) -> None:
        """Poll `GET /janus/info` until it answers 200; RuntimeError with the log tail if
        Janus exits or is not up within START_SECONDS."""
        deadline = time.monotonic() + START_SECONDS
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.server.process.poll() is not None:
                    raise RuntimeError(f"janus exited during start-up:\n{self.server.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.api_url}/info") as response:
                        if response.status == 200:
                            info = await response.json(content_type=None)
                            self.version = str(info.get("version_string", "unknown"))
                            return
                await asyncio.sleep(0.05)  # a separate process: no other readiness signal
        raise RuntimeError(
            f"janus was not ready within {START_SECONDS} s:\n{self.server.log_tail()}"
        )


@contextlib.contextmanager
def janus_server(workdir: Path, settings: JanusSettings) -> Iterator[JanusServer]:
    """Run Janus with a config written under `workdir` until the block ends.

    Must run inside the bench namespace (`benchmarks.janus.netns`), where
    `settings.media_address` exists. Raises JanusUnavailable when Janus is not installed."""
    binary = janus_binary()
    loops = "stock" if settings.event_loops is None else f"loops{settings.event_loops}"
    config = write_config(workdir / f"janus-{loops}", settings)
    log_path = workdir / f"janus-{loops}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [binary, "-C", str(config), "-F", str(config.parent), "-o"],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    base_url = f"http://{LOOPBACK}:{settings.http_port}"
    try:
        yield JanusServer(ServerProcess(process, base_url, log_path), settings)
    finally:
        stop_process(process, STOP_SECONDS)
