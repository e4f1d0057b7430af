"""Connecting to etcd v3 through aetcd: endpoint parsing and client options.

skydns, kube2sky and skydnsctl all take a comma-separated list of endpoints
(``http://10.0.0.1:2379,http://10.0.0.2:2379``); a caller works with one at
a time and moves to the next when it fails.  gRPC keepalive is switched on
so a member that hangs, rather than closes its connections, is noticed.
"""

from __future__ import annotations

import itertools
from urllib.parse import urlsplit

import aetcd

KEEPALIVE = {
    "grpc.keepalive_time_ms": 5000,
    "grpc.keepalive_timeout_ms": 3000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.max_pings_without_data": 0,
    "grpc.max_receive_message_length": 256 << 20,
}


def parse_endpoint(url: str) -> tuple[str, int]:
    """``http://127.0.0.1:2379`` or ``127.0.0.1:2379`` -> (host, port)."""
    parts = urlsplit(url if "//" in url else "//" + url)
    if parts.scheme == "https":
        raise ValueError(f"{url}: TLS to etcd is not supported yet; use http:// on a trusted network")
    if not parts.hostname:
        raise ValueError(f"{url}: not an etcd endpoint")
    return parts.hostname, parts.port or 2379


class Endpoints:
    """A round-robin over the configured endpoints."""

    def __init__(self, urls: list[str] | tuple[str, ...]) -> None:
        if not urls:
            raise ValueError("no etcd endpoints given")
        self.urls = list(urls)
        self.addrs = [parse_endpoint(u) for u in self.urls]
        self._cycle = itertools.cycle(range(len(self.addrs)))
        self.current = next(self._cycle)

    def advance(self) -> None:
        self.current = next(self._cycle)

    def client(self, timeout: float | None = 5) -> aetcd.Client:
        host, port = self.addrs[self.current]
        return aetcd.Client(host, port, timeout=timeout, options=KEEPALIVE)

    def __str__(self) -> str:
        return self.urls[self.current]
