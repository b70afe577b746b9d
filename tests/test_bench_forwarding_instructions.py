"""benchmarks.forwarding_instructions without valgrind: a real child forwards a few packets.

The child runs the tree's own Room, Slots and OutgoingRtpStreams over real uvloop sockets (or
the real MediaPort) with real pylibsrtp sessions; this process's listener sockets must each
receive every packet, decryptable with their own key, so the benchmark cannot silently
measure nothing. The profile readers are checked on small hand-written inputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.forwarding_instructions import (
    KINDS_WITH_BATCH,
    ROOT,
    SOCKET_MODES,
    DeliveryError,
    Listeners,
    kinds_of,
    run_worker,
)
from benchmarks.forwarding_worker import PROFILES, WARMUP_PACKETS
from benchmarks.profile_readers import callgrind_self_costs, callgrind_total, strace_counts

LISTENERS = 3
PACKETS = 5
ROUNDS = 2


def test_the_current_tree_has_the_native_batch_and_its_python_twin() -> None:
    assert kinds_of(ROOT) == KINDS_WITH_BATCH


@pytest.mark.parametrize("sockets", SOCKET_MODES)
@pytest.mark.parametrize("kind", KINDS_WITH_BATCH)
def test_every_listener_receives_every_packet_decryptable(kind: str, sockets: str) -> None:
    run = run_worker(ROOT, kind, sockets, LISTENERS, PACKETS, rounds=ROUNDS, check=True)
    expected = WARMUP_PACKETS + ROUNDS * PACKETS
    assert run.received == [expected] * LISTENERS  # and check=True decrypted each one
    assert run.result["forwarded"] == expected * LISTENERS
    assert run.result["failed"] == 0
    assert Path(run.result["sfu"]).resolve().is_relative_to(ROOT / "sfu")
    assert len(run.result["cpu"]) == ROUNDS
    assert all(user + system > 0 for user, system in run.result["cpu"])


@pytest.mark.parametrize("srtp", PROFILES)
def test_each_srtp_profile_reaches_every_listener(srtp: str) -> None:
    run = run_worker(ROOT, "native", "shared", LISTENERS, PACKETS, check=True, srtp=srtp)
    assert run.received == [WARMUP_PACKETS + PACKETS] * LISTENERS


def test_a_listener_short_of_packets_fails_the_check() -> None:
    with Listeners(2, keep=True) as listeners:
        pass
    with pytest.raises(DeliveryError, match="listener 0: 0 of 1"):
        listeners.check(1)


CALLGRIND = """\
# callgrind format
version: 1
events: Ir
ob=(1) /usr/lib/libpython3.11.so
fl=(1) ceval.c
fn=(1) _PyEval_EvalFrameDefault
10 100
cob=(2) /venv/pylibsrtp/_binding.abi3.so
cfi=(2) srtp.c
cfn=(2) srtp_protect
calls=1 20
10 40
+1 5
ob=(2)
fl=(2)
fn=(2)
20 40
ob=(1)
fn=(1)
11 1
summary: 146
totals: 146
"""


def test_callgrind_self_costs_leave_out_what_a_call_costs(tmp_path: Path) -> None:
    profile = tmp_path / "out.callgrind"
    profile.write_text(CALLGRIND)
    costs = callgrind_self_costs(profile)
    assert costs == {
        ("/usr/lib/libpython3.11.so", "_PyEval_EvalFrameDefault"): 106,
        ("/venv/pylibsrtp/_binding.abi3.so", "srtp_protect"): 40,
    }
    assert callgrind_total(profile) == sum(costs.values())


def test_strace_counts_read_the_summary_table(tmp_path: Path) -> None:
    summary = tmp_path / "strace.txt"
    summary.write_text(
        "% time     seconds  usecs/call     calls    errors syscall\n"
        "------ ----------- ----------- --------- --------- ----------------\n"
        " 60.00    0.006000           5      1200           sendmmsg\n"
        " 40.00    0.004000           2      2000        12 recvfrom\n"
        "------ ----------- ----------- --------- --------- ----------------\n"
        "100.00    0.010000           3      3200        12 total\n"
    )
    assert strace_counts(summary) == {"sendmmsg": 1200, "recvfrom": 2000}
