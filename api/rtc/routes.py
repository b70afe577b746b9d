"""`/api/rtc/*` routes (the TURN credential endpoint lands here)."""

from __future__ import annotations

from api.endpoints import Api

api = Api("rtc")
