"""Types of the native twin (sfu/_rtp_batch.c) of sfu.rtp_batch's Python classes."""

from typing import Any

from pylibsrtp import Session

class RtpDestination:
    def __init__(
        self,
        fd: int,
        address: tuple[Any, ...],
        session: Session,
        srtp: int,
        protect: int,
        with_level: bytes,
        level_offset: int,
        without_level: bytes,
    ) -> None: ...

class RtpBatch:
    def __init__(self, capacity: int = 1024) -> None: ...
    @property
    def pending(self) -> int: ...
    @property
    def sent(self) -> int: ...
    @property
    def failed(self) -> int: ...
    def add(
        self,
        destination: RtpDestination,
        sequence_number: int,
        timestamp: int,
        marker: int,
        payload: bytes,
        level: int,
    ) -> int: ...
    def flush(self) -> int: ...
