"""Opening the server's own database from an admin command, in the three situations an operator
meets: a DATABASE_URL (production, or a development machine with its own MongoDB), a
development server running on its embedded database, and no server running at all.

The embedded nx-27017 keeps its data in `DATA_DIR/mongo` and is started by the server on a free
loopback port it does not publish. Two nx-27017 processes on one data directory would each
start (each is SQLite underneath), but the server refuses that through its pid file
(`api.store.embedded`: "two servers must not share the data"), and so do we: while a server's
embedded database is up, we connect to it as one more client (its port is on its command line);
otherwise we start the embedded database ourselves exactly as the server does, for as long as
the command runs (about a second for 1,000 bots). A server started during those seconds stops
at start-up with the embedded database's own one-line error ("another nx-27017 (pid N) is
using ...; stop it first"); one that was running and is restarting its crashed database retries
until we are done. Either way the two never write the same files at once.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pymongo.errors import ConfigurationError, ConnectionFailure, PyMongoError

from api.admin.errors import AdminError, one_line
from api.settings import Settings
from api.store.database import Stores, database_of, open_client, outage_summary, stores_for
from api.store.embedded import SERVER_NAME, EmbeddedMongo, EmbeddedMongoError

EMBEDDED_DIR = "mongo"  # under DATA_DIR, as api.app starts it
PID_FILE = "server.pid"  # EmbeddedMongo.pid_file


@dataclass(frozen=True)
class OpenDatabase:
    stores: Stores
    # For the operator: which database this is, without any password ("DATABASE_URL
    # (db.internal:27017)", "the running server's embedded database in /srv/.data/mongo").
    where: str


@contextlib.asynccontextmanager
async def server_database(settings: Settings) -> AsyncIterator[OpenDatabase]:
    """The server's database with its indexes in place (created if missing, as the server does
    at start-up: the unique email index is what keeps concurrent writers from duplicating an
    account). Raises `AdminError` when it cannot be opened or does not answer within pymongo's
    server-selection timeout (2 s, api.store.database)."""
    embedded: EmbeddedMongo | None = None
    if settings.database_url is not None:
        url = settings.database_url
        where = f"DATABASE_URL ({_hosts_of(url)})"
    else:
        url, where, embedded = await _embedded_database(
            (settings.data_dir / EMBEDDED_DIR).resolve()
        )
    try:
        try:
            client = open_client(url)
        except ConfigurationError as error:
            raise AdminError(f"DATABASE_URL: {one_line(error)}") from None
        try:
            stores = stores_for(database_of(client))
            try:
                await stores.create_indexes()
            except ConnectionFailure as failure:
                summary = one_line(Exception(outage_summary(failure)))
                raise AdminError(f"database unreachable: {where}: {summary}") from None
            except PyMongoError as error:
                raise AdminError(f"database refused: {where}: {one_line(error)}") from None
            yield OpenDatabase(stores, where)
        finally:
            await client.close()
    finally:
        if embedded is not None:
            await embedded.stop()


async def _embedded_database(mongo_dir: Path) -> tuple[str, str, EmbeddedMongo | None]:
    """The URL of the development database, where it is, and the embedded server we started
    for it (None when the server's own is running: we must not stop that one)."""
    port, fresh = _look_at(mongo_dir)
    if port is None:
        embedded = EmbeddedMongo(mongo_dir, supervise=False)
        try:
            await embedded.start()
        except (EmbeddedMongoError, OSError) as error:
            # A server that started in the meantime holds the directory now: use its database.
            port = running_embedded_port(mongo_dir)
            if port is None:
                raise AdminError(f"cannot start the embedded database: {one_line(error)}") from None
        else:
            state = (
                "new: is this the server's DATA_DIR?" if fresh else "no server was running on it"
            )
            where = f"the embedded database in {mongo_dir} ({state})"
            return embedded.url, where, embedded
    url = f"mongodb://127.0.0.1:{port}"
    return url, f"the running server's embedded database in {mongo_dir} (port {port})", None


def _look_at(mongo_dir: Path) -> tuple[int | None, bool]:
    """The running server's embedded port (None: none runs) and whether the directory is new."""
    return running_embedded_port(mongo_dir), not mongo_dir.exists()


def running_embedded_port(mongo_dir: Path) -> int | None:
    """The port of the live nx-27017 serving `mongo_dir` (an absolute path), read from its pid
    file and its command line (`/proc/<pid>/cmdline`, as api.store.embedded launches it:
    `--data-dir DIR -p PORT`); None when no such process runs (no pid file, a stale one, or a
    pid now used by something else). Raises `AdminError` when the process exists but /proc
    does not show its command line (another user's process)."""
    pid_file = mongo_dir / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise AdminError(
            f"cannot tell whether pid {pid} in {pid_file} is the server's database"
            f" ({error.strerror}); run this as the server's user"
        ) from None
    words = [word.decode(errors="replace") for word in raw.split(b"\0")]
    if not any(word.endswith(SERVER_NAME) for word in words):
        return None
    options = dict(itertools.pairwise(words))
    if options.get("--data-dir") != str(mongo_dir):
        return None
    try:
        return int(options.get("-p", ""))
    except ValueError:
        raise AdminError(f"the server's {SERVER_NAME} (pid {pid}) has no -p PORT") from None


def _hosts_of(url: str) -> str:
    """The host list of a MongoDB URL, without user and password (never printed)."""
    return urlsplit(url).netloc.rpartition("@")[2] or "?"
