"""How the server's log lines look: readable in development, JSON in production."""

from __future__ import annotations

import logging

from api.settings import Settings


def configure_logging(settings: Settings) -> None:
    """Install the root handler for `settings.log_format` (LOG_FORMAT)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
