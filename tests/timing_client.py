"""Times POSTs of `{"email": ...}` to one endpoint, from a process of its own.

A client on the server's event loop would be billed for whatever the server runs after its
answer (the point of the fix is that real accounts' work happens then); a real client, on
another machine, is not. Reads one email per line on stdin, answers one JSON line
`{"status": ..., "ms": ...}` per request on stdout, over one kept-alive connection. With
PROBE, each POST is followed PROBE_GAP_MS later (the gap is part of the input: the review's
probe came 4 ms after the answer) by a GET of PROBE on a second connection, timed too
(`probe_ms`): what the server does after its answer must not show in the next request either.

Usage: python -m tests.timing_client HOST PORT PATH [PROBE [PROBE_GAP_MS]]
"""

from __future__ import annotations

import http.client
import json
import sys
import time


def main() -> None:
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    probe = sys.argv[4] if len(sys.argv) > 4 else None
    probe_gap = float(sys.argv[5]) / 1000 if len(sys.argv) > 5 else 0.0
    connection = http.client.HTTPConnection(host, port)
    probe_connection = http.client.HTTPConnection(host, port)
    headers = {"Content-Type": "application/json"}
    # One line at a time: the parent sends the next email only once the server is idle.
    while line := sys.stdin.readline():
        body = json.dumps({"email": line.strip()})
        start = time.perf_counter()
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        response.read()
        elapsed_ms = (time.perf_counter() - start) * 1000
        result = {"status": response.status, "ms": elapsed_ms}
        if probe is not None:
            time.sleep(probe_gap)
            start = time.perf_counter()
            probe_connection.request("GET", probe)
            probe_response = probe_connection.getresponse()
            probe_response.read()
            result["probe_ms"] = (time.perf_counter() - start) * 1000
            assert probe_response.status == 200, probe_response.status
        print(json.dumps(result), flush=True)
    connection.close()
    probe_connection.close()


if __name__ == "__main__":
    main()
