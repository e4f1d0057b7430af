"""A random-subdomain flood ("water torture") against skydns, with dnsperf.

A real etcd holds the records of ``--records`` services; skydns serves them.
dnsperf then asks ``--names`` distinct random names under the zone (each
once, NXDOMAIN), in parts of ``--part`` names, while a thread keeps asking
the real names.  Per part it prints the served rate, the real names' p99
latency and failures, and skydns's resident memory.  It fails (exit 1)
when the served rate of the last part falls below half that of the first,
or a real name went unanswered: the packet cache must keep its cost flat
and its useful entries however many names it has seen.

    .venv/bin/python -m bench.flood --names 1000000
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.run import DOMAIN, dnsperf, load, objects
from kube2sky import records
from tests.procs import Etcd, Skydns


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _ask(sock: socket.socket, port: int, name: str) -> tuple[bytes | None, float]:
    qid = random.randrange(65536)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    start = time.perf_counter()
    sock.sendto(struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0\1\0\1", ("127.0.0.1", port))
    try:
        while True:
            data, _ = sock.recvfrom(4096)
            if data[:2] == struct.pack("!H", qid):
                return data, time.perf_counter() - start
    except socket.timeout:
        return None, time.perf_counter() - start


class RealNames(threading.Thread):
    """Asks the real names (about 200 a second) and checks every answer."""

    def __init__(self, port: int, names: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.port, self.names = port, list(names.items())
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.failed = 0

    def run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            while not self.stop.is_set():
                name, want = random.choice(self.names)
                data, took = _ask(s, self.port, name)
                ok = data is not None and data[3] & 0xF == 0 and socket.inet_ntoa(data[-4:]) == want
                with self.lock:
                    self.latencies.append(took)
                    self.failed += not ok
                time.sleep(0.005)

    def take(self) -> tuple[float, int, int]:
        """(p99 ms, asked, failed) since the last call."""
        with self.lock:
            lat, failed = sorted(self.latencies), self.failed
            self.latencies, self.failed = [], 0
        p99 = lat[int(len(lat) * 0.99)] * 1000 if lat else float("nan")
        return p99, len(lat), failed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--names", type=int, default=1_000_000, help="distinct random names in the flood")
    p.add_argument("--part", type=int, default=100_000, help="names per measured part")
    p.add_argument("--records", type=int, default=1000, help="real services (and as many pods)")
    p.add_argument("--clients", type=int, default=8, help="dnsperf clients")
    a = p.parse_args()
    if a.names < 2 * a.part:
        sys.exit("--names must be at least two parts")
    for tool in ("dnsperf", "etcd"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed: run `make setup`")
    work = Path(tempfile.mkdtemp(prefix="skydns-flood-"))
    services, eps, pods = objects(a.records, 0, 0)
    tree = {k: v for unit in records.desired(services, eps, pods, records.Options(domain=DOMAIN)).values()
            for k, v in unit.items()}
    real = {f"svc{i}.default.svc.cluster.local.": s["spec"]["clusterIP"] for i, s in enumerate(services)}
    etcd = Etcd("flood").start()
    sky = checker = None
    try:
        load(etcd.url, tree)
        sky = Skydns(etcd.url, f"-domain={DOMAIN}", "-workers=1", "-round-robin=false")
        checker = RealNames(sky.port, real)
        checker.start()
        time.sleep(1)
        checker.take()  # the first asks fill the cache
        print(f"flood: {a.names:,} distinct names in parts of {a.part:,}, {len(real):,} real names asked "
              f"beside it, dnsperf -c {a.clients}; skydns -workers=1 on {len(tree):,} keys")
        print(f"{'names':>10} {'served q/s':>11} {'lost':>6} {'real p99 ms':>12} {'real asked':>10} "
              f"{'real failed':>11} {'rss MB':>7}")
        rates: list[float] = []
        rnd = random.Random(19)
        failed_total = 0
        for start in range(0, a.names, a.part):
            path = work / "part.txt"
            path.write_text("".join(f"{rnd.getrandbits(48):012x}.default.svc.cluster.local A\n"
                                    for _ in range(min(a.part, a.names - start))))
            r = dnsperf(sky.port, path, None, a.clients)
            p99, asked, failed = checker.take()
            failed_total += failed
            rates.append(r.qps)
            print(f"{start + a.part:>10,} {r.qps:>11,.0f} {r.lost:>6} {p99:>12.2f} {asked:>10} {failed:>11} "
                  f"{rss_mb(sky.proc.pid):>7.0f}", flush=True)
        ratio = rates[-1] / rates[0] if rates[0] else 0.0
        print(f"served rate, last part / first part: {ratio:.2f} (must be >= 0.50); real names failed: "
              f"{failed_total}")
    finally:
        if checker:
            checker.stop.set()
            checker.join(5)
        if sky:
            sky.stop()
        etcd.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ratio >= 0.5 and failed_total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
