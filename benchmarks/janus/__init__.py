"""Janus 1.1.2 (VideoRoom, audio only) beside Gethory: the same bots and scenario, one run.

netns: the network namespace the run needs (Janus never pairs loopback candidates);
server: Janus with a generated config, probed from /proc; signaling: the RoomSignaling
contract over Janus's HTTP API; legacy_bots: benchmarks.bots `Bot` as offerer or answerer,
with loss and delay. The run itself is benchmarks.scenarios.vs_janus.
"""
