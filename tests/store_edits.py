"""Edits a test makes straight in the database, for states that take real time to reach."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pymongo import AsyncMongoClient

from api.settings import Settings


async def age_room(settings: Settings, room_id: str, by: timedelta) -> None:
    """Pretend the room was created `by` ago (its listing key moves with it)."""
    assert settings.database_url is not None
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.database_url, tz_aware=True)
    rooms = mongo.get_default_database()["rooms"]
    record = await rooms.find_one({"_id": room_id})
    assert record is not None
    created = record["created_at"] - by
    record |= {
        "created_at": created,
        "sort_key": f"{int(created.timestamp() * 1000):015d}_{room_id}",
    }
    await rooms.replace_one({"_id": room_id}, record)
    await mongo.close()
