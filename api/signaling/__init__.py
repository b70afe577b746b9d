"""Socket.IO signaling: presence in rooms, mute state, the mesh relays of SDP and ICE, and
the bridge to the SFU. `hub.py` adapts Socket.IO; each job is its own object."""
