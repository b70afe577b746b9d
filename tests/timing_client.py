"""Times POSTs of `{"email": ...}` to one endpoint, from a process of its own.

A client on the server's event loop would be billed for whatever the server runs after its
answer (the point of the fix is that real accounts' work happens then); a real client, on
another machine, is not. Reads one email per line on stdin, answers one JSON line
`{"status": ..., "ms": ...}` per request on stdout, over one kept-alive connection.

Usage: python -m tests.timing_client HOST PORT PATH
"""

from __future__ import annotations

import http.client
import json
import sys
import time


def main() -> None:
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    connection = http.client.HTTPConnection(host, port)
    headers = {"Content-Type": "application/json"}
    # One line at a time: the parent sends the next email only once the server is idle.
    while line := sys.stdin.readline():
        body = json.dumps({"email": line.strip()})
        start = time.perf_counter()
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        response.read()
        elapsed_ms = (time.perf_counter() - start) * 1000
        print(json.dumps({"status": response.status, "ms": elapsed_ms}), flush=True)
    connection.close()


if __name__ == "__main__":
    main()
