"""The named scenarios of gethory-bench: `SCENARIOS[name]` → Scenario (parameters, run).

`gethory-bench scenarios` prints each one's summary, parameters and defaults.
"""

from __future__ import annotations

from benchmarks.scenarios.base import Param, Scenario
from benchmarks.scenarios.churn import SCENARIO as CHURN
from benchmarks.scenarios.fanout import SCENARIO as FANOUT
from benchmarks.scenarios.idle import SCENARIO as IDLE
from benchmarks.scenarios.join_storm import SCENARIO as JOIN_STORM
from benchmarks.scenarios.large_room import SCENARIO as LARGE_ROOM
from benchmarks.scenarios.mesh_vs_sfu import SCENARIO as MESH_VS_SFU
from benchmarks.scenarios.rooms import SCENARIO as ROOMS
from benchmarks.scenarios.vs_janus import SCENARIO as VS_JANUS

SCENARIOS: dict[str, Scenario] = {
    s.name: s for s in (FANOUT, ROOMS, MESH_VS_SFU, JOIN_STORM, CHURN, LARGE_ROOM, VS_JANUS, IDLE)
}

__all__ = ["SCENARIOS", "Param", "Scenario"]
