"""Gethory's media plane (aiortc). Never imports aiohttp or `api`."""

from sfu.room import SpeakerUpdate

__all__ = ["SpeakerUpdate"]
