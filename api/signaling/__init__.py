"""Socket.IO signaling: presence, mute state and the mesh relay of SDP and ICE."""
