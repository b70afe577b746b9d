"""Schemathesis fuzzes every endpoint from the published OpenAPI document, signed in.

Bounded (a fixed seed, a few examples per operation: several hundred requests), it checks that
no request gets a 5xx and that every answer has a documented status, content type and schema.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.client import ApiClient
from tests.conftest import RunningServer
from tests.mailbox import Mailbox

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


async def test_every_endpoint_survives_generated_requests(
    client: ApiClient, mailbox: Mailbox, server: RunningServer, tmp_path: Path
) -> None:
    email = await client.register_verified(mailbox)
    access_token = (await client.login(email)).body["accessToken"]
    schemathesis = Path(sys.executable).parent / "st"
    process = await asyncio.create_subprocess_exec(
        str(schemathesis), "run", f"{server.base_url}/api/openapi.json",
        "--header", f"Authorization: Bearer {access_token}",
        "--checks", CHECKS,
        "--max-examples", "8",
        "--seed", "20261124",
        "--workers", "1",
        "--generation-database", "none",
        # Signing out would end the session the rest of the run signs in with.
        "--exclude-path", "/api/auth/logout",
        "--no-color",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 300)
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-6000:]
    assert "Tested: " in report
