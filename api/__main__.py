"""`gethory` / `python -m api`: run the server (uvloop, embedded database in development)."""

from __future__ import annotations

import sys

import uvloop
from aiohttp import web

from api.app import create_app
from api.logs import configure_logging
from api.settings import SettingsError, load_settings
from sfu import SfuStartError


def main() -> None:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"gethory: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings)
    # create_app carries the server's hardening (api.hardening): security headers, and the
    # header/idle timeout in `handler_args`, which wins over run_app's own keepalive_timeout.
    app = create_app(settings)
    try:
        web.run_app(
            app, host=settings.host, port=settings.port, loop=uvloop.new_event_loop(), print=None
        )
    except SfuStartError as error:
        print(f"gethory: the media server cannot start: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
