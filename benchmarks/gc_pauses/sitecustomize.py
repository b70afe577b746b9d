"""Times the server's garbage collections, for `benchmarks/RESULTS.md` (issue 16).

Put this directory first on PYTHONPATH when running a benchmark against a local server
(`PYTHONPATH=benchmarks/gc_pauses gethory-bench ...`: the local server inherits PYTHONPATH).
In the `python -m api` process only, every collection is timed through `gc.callbacks`; the
totals per generation (count, total and longest pause in ms, pauses over 50 ms) are written to
`$GC_PAUSES_DIR/gc-<pid>.json` (default: the system temp dir) at exit and on SIGUSR2.
"""

import atexit
import gc
import json
import os
import signal
import sys
import tempfile
import time

if sys.orig_argv[-2:] == ["-m", "api"]:
    _started = [0.0]
    _pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}

    def _timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            _started[0] = time.perf_counter()
        else:
            _pauses[info["generation"]].append((time.perf_counter() - _started[0]) * 1000)

    def _dump(*_: object) -> None:
        totals = {
            generation: {
                "n": len(pauses),
                "total_ms": sum(pauses),
                "max_ms": max(pauses, default=0.0),
                "over50": sum(1 for pause in pauses if pause > 50),
            }
            for generation, pauses in _pauses.items()
        }
        directory = os.environ.get("GC_PAUSES_DIR", tempfile.gettempdir())
        with open(os.path.join(directory, f"gc-{os.getpid()}.json"), "w") as out:
            json.dump(totals, out)

    gc.callbacks.append(_timed)
    atexit.register(_dump)
    signal.signal(signal.SIGUSR2, _dump)
