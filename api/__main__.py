"""`gethory` / `python -m api`: run the server (uvloop, embedded database in development).
With arguments it runs an operator command instead (`gethory admin create-bots ...`, see
api.admin.cli; `gethory --help` lists them).

Our own runner rather than `web.run_app`, for the order of shutdown (api.drain): run_app turns
SIGTERM into GracefulExit, which closes the listening port at once and then waits up to its
shutdown timeout for open websockets, while the calls on them are cut without a word. Here
SIGTERM/SIGINT start the drain; the site stays up (REST answers, `/readyz` says 503) until
every room emptied or DRAIN_SECONDS passed, then the calls are closed, the site stops, and the
services' `cleanup_ctx` ends them (background tasks, database client, embedded database).
Every step is bounded and a further signal cuts the one under way (api.drain); when a step was
cut the process exits at once after logging, without waiting for the tasks it left behind.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import time

import uvloop
from aiohttp import web

from api.admin.cli import command
from api.app import create_app
from api.drain import DRAIN
from api.logs import configure_logging
from api.settings import Settings, SettingsError, load_settings
from api.signaling.hub import SIGNALING
from api.store.embedded import EmbeddedMongoError
from sfu import SfuStartError

# After the drain closed every Engine.IO transport, open HTTP requests (a long poll, a slow
# upload) get this long to finish before aiohttp cancels them.
SHUTDOWN_TIMEOUT_SECONDS = 5.0
# The bound of the whole stop of the site and services: the shutdown timeout above, then the
# services' teardowns (the embedded database alone may take its STOP_TIMEOUT_SECONDS, 5 s).
STOP_SECONDS = SHUTDOWN_TIMEOUT_SECONDS + 10.0
SIGNALS = (signal.SIGTERM, signal.SIGINT)
log = logging.getLogger("api")


# Young generation every 50,000 container allocations (CPython's default: 700), the middle
# one every 20 young collections, the old one every 100 middle ones (and only once the old
# generation grew by a quarter, CPython's own rule).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector() -> None:
    """Keep the cyclic garbage collector from stopping the media: a full collection walks
    every tracked object, and a room of 1,000 listeners holds over a million, so with
    CPython's thresholds its join storm had 19 full collections of up to 669 ms each, every
    one a gap in everyone's audio (event-loop lag p99 476 ms). What start-up built (modules,
    the app) is frozen, never walked again (`gc.freeze`), and the thresholds make full
    collections rare: in the same storm none ran, the young collections took at most 58 ms,
    lag p99 was 4.6 ms and the server's CPU fell by a fifth (benchmarks/RESULTS.md, issue
    16). The price: cyclic garbage (a closed connection's objects) is collected later, so
    memory after a wave of leavers comes back later too."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def main() -> None:
    if len(sys.argv) > 1:
        raise SystemExit(command(sys.argv[1:]))
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"gethory: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings)
    # create_app carries the server's hardening (api.hardening): security headers, and the
    # header/idle timeout in `handler_args`, which wins over the runner's keepalive_timeout.
    app = create_app(settings)
    tune_garbage_collector()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            if not runner.run(serve(app, settings)):
                # A step of the shutdown was cut: what it left behind (a task that does not
                # end on cancellation, an executor thread) would hold the Runner's close and
                # the interpreter's exit. Everything worth keeping is stored or closed.
                logging.shutdown()
                os._exit(0)
    except SfuStartError as error:
        # Through logging, so it is a JSON line like every other in production.
        log.critical("gethory: the media server cannot start: %s", error)
        raise SystemExit(2) from None
    except EmbeddedMongoError as error:
        # E.g. another process holds DATA_DIR/mongo: a second server, or for a moment
        # `gethory admin create-bots` run while no server was up.
        log.critical("gethory: the embedded database cannot start: %s", error)
        raise SystemExit(2) from None


async def serve(app: web.Application, settings: Settings) -> bool:
    """Start the app, wait for SIGTERM/SIGINT, drain, stop. Returns once everything the app
    started has ended (True), or once a step of the drain or stop was cut by its bound or a
    further signal (False: the caller then exits without waiting for what that step left)."""
    drain = app[DRAIN]
    loop = asyncio.get_running_loop()
    for signum in SIGNALS:
        # Installed before start-up: a signal during start-up drains right after it.
        loop.add_signal_handler(signum, drain.on_signal)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS)
    try:
        await runner.setup()
        await web.TCPSite(runner, settings.host, settings.port).start()
        await drain.requested()
        await drain.run(app[SIGNALING])
    finally:
        # Stops the site (no new connections), waits for open requests, then runs the
        # cleanup_ctx teardowns in reverse: SFU, background tasks, database, embedded database.
        started = time.monotonic()
        if await drain.step("stop site and services", runner.cleanup(), STOP_SECONDS):
            log.info("stopped: site and services closed in %.2f s", time.monotonic() - started)
        for signum in SIGNALS:
            loop.remove_signal_handler(signum)
    if drain.cut_steps:
        log.warning("stopped: exiting now; cut step(s): %s", ", ".join(drain.cut_steps))
        return False
    return True


if __name__ == "__main__":
    main()
