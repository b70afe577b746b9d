"""Gethory's media plane (aiortc). Never imports aiohttp or `api`."""
