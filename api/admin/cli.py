"""The command line of `gethory` beyond running the server: `gethory admin create-bots ...`
(also `python -m api admin ...`). `gethory` without arguments runs the server (api.__main__).

Every failure an operator can cause (arguments, settings, an unreachable database, an
unwritable --out) is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from pymongo.errors import PyMongoError

from api.admin.bots import BOT_DOMAIN, MAX_BOTS, PREFIX_PATTERN, bot_email
from api.admin.create_bots import CreatedBots, create_bots
from api.admin.credentials import CredentialsFile
from api.admin.errors import AdminError, one_line
from api.settings import Settings, SettingsError, load_settings

USAGE_ERROR = 2
INTERRUPTED = 130  # 128 + SIGINT, as shells report it
UNSAVED = "the bots written so far hold a password that was not saved: run it again"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse prints the usage block first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")


def command(argv: Sequence[str]) -> int:
    """Run `gethory ARGV...`; returns the exit status (argparse exits itself for --help, 0)."""
    arguments = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = arguments.handler
    return handler(arguments)


def _parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog="gethory",
        description="Without arguments: run the Gethory server (settings from the environment"
        " and ./.env; see README).",
    )
    commands = top.add_subparsers(title="commands", required=True, metavar="COMMAND")
    admin = commands.add_parser(
        "admin",
        help="operator commands, run where the server runs",
        description="Operator commands. Run them where the server runs: the same working"
        " directory, environment and .env (GETHORY_ENV, DATABASE_URL, DATA_DIR), so they use the"
        " server's own database. In development without DATABASE_URL that is the embedded"
        " database in DATA_DIR/mongo: the running server's, or started for the command if no"
        " server runs.",
    )
    admin_commands = admin.add_subparsers(title="commands", required=True, metavar="COMMAND")
    bots = admin_commands.add_parser(
        "create-bots",
        help="create or refresh verified accounts for load tests",
        description=f"Create N verified accounts PREFIX-00000@{BOT_DOMAIN}, … (a reserved"
        " domain: no mail reaches anyone) with one new random password, for load-testing bots"
        " (gethory-bench) that sign in with POST /api/auth/login. Running it again with the same"
        " prefix refreshes the accounts: a new password, still verified, their sessions ended,"
        " never a duplicate. Writes JSON {prefix, count, password, accounts: [{email, name,"
        " userId}]} to FILE (mode 0600) or stdout; says on stderr what it did. Works in"
        " production too (GETHORY_ENV=production): that is a load tester's own deployment.",
    )
    bots.add_argument(
        "--count", type=_count, required=True, metavar="N", help=f"how many bots, 1 to {MAX_BOTS}"
    )
    bots.add_argument(
        "--prefix",
        type=_prefix,
        required=True,
        metavar="P",
        help="the accounts' name prefix, [a-z0-9-]{1,20} (e.g. bench)",
    )
    bots.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="write the credentials here (mode 0600) instead of stdout",
    )
    bots.set_defaults(handler=_create_bots)
    return top


def _count(text: str) -> int:
    if re.fullmatch(r"[0-9]{1,6}", text.strip()) is None or not 1 <= int(text) <= MAX_BOTS:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 to {MAX_BOTS}, not {text!r}"
        )
    return int(text)


def _prefix(text: str) -> str:
    if PREFIX_PATTERN.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(f"must be 1 to 20 of a-z, 0-9 and '-', not {text[:40]!r}")
    return text


def _create_bots(arguments: argparse.Namespace) -> int:
    prefix: str = arguments.prefix
    count: int = arguments.count
    out = CredentialsFile(arguments.out)
    try:
        settings = load_settings()
        out.reserve()
        created = asyncio.run(create_bots(settings, prefix, count))
        out.write(created.document())
    except (SettingsError, AdminError) as error:
        return _fail(out, str(error))
    except PyMongoError as error:
        return _fail(out, f"database error: {one_line(error)}; {UNSAVED}")
    except KeyboardInterrupt:
        _fail(out, f"interrupted; {UNSAVED}")
        return INTERRUPTED
    print(_summary(created, settings, arguments.out), file=sys.stderr)
    return 0


def _fail(out: CredentialsFile, message: str) -> int:
    out.discard()
    print(f"gethory admin create-bots: {message}", file=sys.stderr)
    return USAGE_ERROR


def _summary(created: CreatedBots, settings: Settings, out: Path | None) -> str:
    """One line for the operator (and the deployment's log): what changed where."""
    first, last = bot_email(created.prefix, 0), bot_email(created.prefix, created.count - 1)
    span = first if created.count == 1 else f"{first} … {last}"
    refreshed = created.count - created.created
    return (
        f"gethory admin create-bots: {created.created} created, {refreshed} refreshed"
        f" (verified, one new password): {span}; {settings.environment} settings,"
        f" {created.where}; credentials in {out if out is not None else 'stdout'}"
    )
