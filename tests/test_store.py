"""The store on the embedded MongoDB-wire server: indexes, conditional rotation, durability."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.store.database import open_client, stores_for
from api.store.embedded import EmbeddedMongo
from api.store.sessions import Session
from api.store.users import EmailTaken, User

CREATED_AT = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def a_user(email: str = "keep@example.com") -> User:
    return User(
        id="usr_AAAAAAAAAAAAAAAA",
        email=email,
        email_verified=False,
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$x$y",
        name="Keep",
        created_at=CREATED_AT,
    )


async def test_data_survives_a_restart_of_the_embedded_server(tmp_path: Path) -> None:
    server = EmbeddedMongo(tmp_path / "mongo")
    try:
        await _write_then_read_across_a_restart(server)
    finally:
        await server.stop()  # a failed assertion must not leave the child process behind


async def _write_then_read_across_a_restart(server: EmbeddedMongo) -> None:
    await server.start()
    client = open_client(f"{server.url}/durable")
    stores = stores_for(client.get_default_database())
    await stores.create_indexes()
    await stores.users.insert(a_user())
    await stores.users.mark_email_verified("usr_AAAAAAAAAAAAAAAA")
    await client.close()
    await server.stop()

    await server.start()
    client = open_client(f"{server.url}/durable")
    stores = stores_for(client.get_default_database())
    await stores.create_indexes()  # idempotent on an existing database
    user = await stores.users.by_email("keep@example.com")
    assert user is not None and user.email_verified is True and user.name == "Keep"
    assert user.created_at == CREATED_AT
    with pytest.raises(EmailTaken):
        await stores.users.insert(replace(a_user(), id="usr_BBBBBBBBBBBBBBBB"))
    await client.close()


async def test_session_rotation_is_conditional_on_the_old_hash(mongo_url: str) -> None:
    client = open_client(f"{mongo_url}/rotation")
    stores = stores_for(client.get_default_database())
    await stores.create_indexes()
    now = datetime.now(UTC).replace(microsecond=0)
    session = Session(
        "ses_AAAAAAAAAAAAAAAA", "usr_A", "hash-1", now, now, now + timedelta(days=1), "ua", "ip"
    )
    await stores.sessions.insert(session)
    later = now + timedelta(minutes=5)
    assert await stores.sessions.replace_if_hash(
        "hash-1", session.rotated("hash-2", later, later + timedelta(days=1))
    )
    assert not await stores.sessions.replace_if_hash(
        "hash-1", session.rotated("hash-3", later, later)
    )
    live = await stores.sessions.live(session.id, later)
    assert live is not None and live.refresh_hash == "hash-2" and live.last_used_at == later
    assert await stores.sessions.live(session.id, later + timedelta(days=2)) is None
    await client.drop_database("rotation")
    await client.close()
