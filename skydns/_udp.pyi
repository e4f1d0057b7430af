"""Types of the C extension skydns._udp (skydns/_udp.c)."""

from typing import Any, Callable

MAX_BURST: int
MAX_SIZE: int

class Batch:
    fd: int
    burst: int
    size: int
    rounds: int
    blocked: bool

    def __init__(self, fd: Any, handle: Callable[[bytes, bool], object],
                 defer: Callable[[object, Any], object], burst: int = 64, size: int = 65535,
                 rounds: int = 4) -> None: ...
    def drain(self) -> int: ...
    def close(self) -> None: ...
