"""`/api/rtc/*`: what browsers need to set up WebRTC (ICE servers with TURN credentials)."""
