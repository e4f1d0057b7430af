"""The cost of building an answer, in-process: no sockets, no event loop.

Loads the bench's Kubernetes-shaped records into a Store, then hands the
handler N distinct questions (half exist), each once, as the cold workload
does.  Prints microseconds per answer; run it under
``valgrind --tool=callgrind`` for instruction counts, which stay the same
when the machine is busy:

    .venv/bin/python -m bench.coldpath --names 2000
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \\
        .venv/bin/python -m bench.coldpath --names 2000 --repeat 0
"""

from __future__ import annotations

import argparse
import time

from kube2sky import records
from skydns import config as config_mod
from skydns.forward import Forwarder
from skydns.handler import Handler, State
from skydns.metrics import Metrics
from skydns.store import Store
from skydns_common.bulk import serving_gc

from bench.run import objects, pod_name


def question(name: str, qtype: int = 1, qid: int = 1) -> bytes:
    wire = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    return qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + wire + qtype.to_bytes(2, "big") + b"\x00\x01"


def handler(services: int, pods: int) -> Handler:
    svcs, eps, pod_objs = objects(services, 100, 10, pods)
    opt = records.Options(domain="cluster.local.")
    tree = {k: v for unit in records.desired(svcs, eps, pod_objs, opt).values() for k, v in unit.items()}
    store = Store()
    store.replace(((k, v.encode()) for k, v in tree.items()), 1)
    cfg = config_mod.from_args(["-domain=cluster.local.", "-round-robin=false"])
    state = State(store, cfg)
    state.connected = True
    return Handler(state, Forwarder(cfg), Metrics())


def cold_packets(n: int) -> list[bytes]:
    return [question(f"x{i}.default.svc.cluster.local" if i % 2 else pod_name(i // 2), 1, i & 0xFFFF)
            for i in range(n)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--names", type=int, default=20000)
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3, help="timed passes (0: one untimed pass, for callgrind)")
    a = p.parse_args()
    packets = cold_packets(a.names)
    serving_gc()  # as skydns runs
    for r in range(max(a.repeat, 1)):
        h = handler(a.services, max(a.names // 2, 1000))  # an empty packet cache each pass
        start = time.process_time()
        for data in packets:
            out = h.handle(data, False)
            assert isinstance(out, bytes), out
        spent = time.process_time() - start
        if a.repeat:
            print(f"pass {r}: {spent / a.names * 1e6:.1f} us CPU per cold answer ({a.names} names)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
