"""Gethory's HTTP face: settings, the aiohttp app, REST, signaling and email."""
