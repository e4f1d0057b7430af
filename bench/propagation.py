"""Propagation: a change made through the API until skydns answers it.

The whole path users wait on: the fake API server (tests/fakeapi.py) sends
the watch event, kube2sky turns it into one etcd transaction, skydns's watch
updates its mirror and the next question gets the new address.  Each sample
changes one Service's ClusterIP through the API and polls skydns over UDP
until the answer carries the new address.

    .venv/bin/python -m bench.propagation [--changes 200]
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator


from tests.fakeapi import FakeApi
from tests.procs import Etcd, Kube2sky, Skydns, wait_until

SERVICES = 100


def service(i: int, ip: str) -> dict:
    return {"metadata": {"name": f"web{i}", "namespace": "default"},
            "spec": {"clusterIP": ip, "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}}


def address(port: int, name: str, qid: int) -> str | None:
    """The first A record of a UDP answer (None: no answer, or none in time)."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    packet = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + b"\0\1\0\1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(packet, ("127.0.0.1", port))
        try:
            data, _ = s.recvfrom(4096)
        except socket.timeout:
            return None
    # the answer follows the echoed question; its owner is a 2-byte pointer
    pos = 12 + len(qname) + 4
    if struct.unpack("!H", data[6:8])[0] == 0 or len(data) < pos + 16:
        return None
    rtype, _, _, rdlen = struct.unpack("!HHIH", data[pos + 2:pos + 12])
    return socket.inet_ntoa(data[pos + 12:pos + 16]) if rtype == 1 and rdlen == 4 else None


def timed_changes(port: int, count: int, change: Callable[[int], tuple[str, str]]) -> tuple[float, float]:
    """(p50, p99) in milliseconds from ``change(n)`` (which makes the n-th
    change and says which name should now answer which address) until
    skydns on ``port`` answers it; a lost question counts in the time."""
    times = []
    for n in range(count):
        start = time.monotonic()
        name, ip = change(n)
        while address(port, name, n & 0xFFFF) != ip:
            if time.monotonic() - start > 10:
                raise RuntimeError(f"change {n} not answered within 10 s")
        times.append(time.monotonic() - start)
    times.sort()
    return times[len(times) // 2] * 1000, times[min(len(times) - 1, int(len(times) * 0.99))] * 1000


@contextmanager
def stack(name: str, seed: Callable[[FakeApi], None], *kube2sky_args: str) -> Iterator[tuple[FakeApi, Skydns]]:
    """The whole path on loopback: etcd, the fake API server (``seed`` fills it
    before kube2sky starts), kube2sky with ``kube2sky_args``, and skydns; all
    stopped afterwards, also when one of them fails to start."""
    etcd = Etcd(name).start()
    api: FakeApi | None = None
    procs: list[Kube2sky | Skydns] = []
    try:
        api = FakeApi().start()
        seed(api)
        procs.append(Kube2sky(api.url, etcd.url, *kube2sky_args))
        sky = Skydns(etcd.url, "-domain=cluster.local.")
        procs.append(sky)
        yield api, sky
    finally:
        for p in procs:
            p.stop()
        if api is not None:
            api.stop()
        etcd.cleanup()


def propagation(changes: int = 200) -> tuple[float, float]:
    """(p50, p99) in milliseconds over ``changes`` ClusterIP changes."""
    def seed(api: FakeApi) -> None:
        for i in range(SERVICES):
            api.put("services", service(i, f"10.0.{i}.1"))
    with stack("propagation", seed) as (api, sky):
        wait_until(lambda: address(sky.port, "web0.default.svc.cluster.local.", 1) == "10.0.0.1", 30,
                   what="kube2sky's first sync answered by skydns")

        def change(n: int) -> tuple[str, str]:
            i = n % SERVICES
            ip = f"10.{1 + n // 250}.{n % 250}.{i % 250 + 1}"
            api.put("services", service(i, ip))
            return f"web{i}.default.svc.cluster.local.", ip
        return timed_changes(sky.port, changes, change)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--changes", type=int, default=200)
    a = p.parse_args()
    p50, p99 = propagation(a.changes)
    print(f"propagation API -> kube2sky -> etcd -> skydns over {a.changes} changes: "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
