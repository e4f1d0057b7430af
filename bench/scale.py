"""Scale figures for bench/run.py.

* kube2sky's first full sync, through the fake API server, of the
  Kubernetes scalability envelope: 10,000 services (1,000 of them headless
  with 10 endpoints each) and 150,000 pods: from start to ready, every key
  in etcd; then skydns start to ready over those keys, and its memory;
* the same for a cluster of ``--scale-keys`` keys read from a file (the
  same code path after the listing; 750,000 for the large figure);
* skydns start to ready over those keys, and its resident memory;
* etcd write -> skydns answer at that size (the mirror's own share of
  propagation; bench/propagation.py measures the whole path from the API).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests import etcdkv
from tests.fakeapi import FakeApi
from tests.procs import Kube2sky, Skydns, wait_http
from bench.propagation import address


def etcd_to_answer(etcd_url: str, sky_port: int, samples: int = 200) -> tuple[float, float]:
    times = []
    for i in range(samples):
        name = f"p{i}.prop.cluster.local."
        etcdkv.put(etcd_url, {f"/skydns/local/cluster/prop/p{i}": '{"host":"10.99.0.1"}'})
        start = time.monotonic()
        # a lost question or an old answer is counted in the time it took
        while address(sky_port, name, i) != "10.99.0.1" and time.monotonic() - start <= 5:
            pass
        times.append(time.monotonic() - start)
    times.sort()
    return times[len(times) // 2] * 1000, times[int(len(times) * 0.99)] * 1000


def cluster_file(path: Path, services: int) -> int:
    items = []
    for i in range(services):
        ip = f"10.{64 + i // 65536}.{i // 256 % 256}.{i % 256}"
        items.append({"kind": "Service", "metadata": {"name": f"s{i}", "namespace": f"ns{i % 50}"},
                      "spec": {"clusterIP": ip, "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}})
        items.append({"kind": "Pod", "metadata": {"name": f"p{i}", "namespace": f"ns{i % 50}"},
                      "status": {"podIP": f"10.{128 + i // 65536}.{i // 256 % 256}.{i % 256}"}})
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return services * 4 + 1  # A, SRV, PTR per service, one key per pod, dns-version


def api_cluster(api: FakeApi, services: int = 10_000, headless: int = 1_000, pods: int = 150_000,
                endpoints: int = 10) -> None:
    """The scalability envelope: every service has an endpoints object (a
    headless service's ``endpoints`` addresses become records, a ClusterIP
    service's two do not), and pods by IP."""
    for i in range(services):
        ns, name = f"ns{i % 50}", f"s{i}"
        ip = "None" if i < headless else f"10.{64 + i // 65536}.{i // 256 % 256}.{i % 256}"
        api.put("services", {"metadata": {"name": name, "namespace": ns}, "spec": {
            "clusterIP": ip, "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}})
        api.put("endpoints", {"metadata": {"name": name, "namespace": ns}, "subsets": [{
            "addresses": [{"ip": f"10.{96 + e}.{i // 256 % 256}.{i % 256}"}
                          for e in range(endpoints if i < headless else 2)],
            "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}]})
    for i in range(pods):
        api.put("pods", {"metadata": {"name": f"p{i}", "namespace": f"ns{i % 50}"},
                         "status": {"podIP": f"10.{128 + i // 65536}.{i // 256 % 256}.{i % 256}"}})
    api.compact()  # watches start at the listing's version; no history to replay


def first_sync(etcd_url: str, api_url: str, *flags: str) -> float:
    """Seconds from kube2sky's start until it is ready: listed and written."""
    start = time.monotonic()
    k2s = Kube2sky(api_url, etcd_url, *flags)
    try:
        wait_http(f"http://127.0.0.1:{k2s.http_port}/readiness", 600, k2s.proc)
        return time.monotonic() - start
    finally:
        k2s.stop()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def skydns_start(etcd_url: str, label: str, out: dict[str, float], propagation: bool = False) -> None:
    start = time.monotonic()
    sky = Skydns(etcd_url, "-domain=cluster.local.", "-workers=1", wait_ready=False)
    try:
        sky.wait_ready(300)
        out[f"skydns ready s ({label})"] = time.monotonic() - start
        out[f"skydns RSS MB ({label})"] = rss_mb(sky.proc.pid)
        if propagation:
            p50, p99 = etcd_to_answer(etcd_url, sky.port)
            out["etcd write -> answer p50 ms"], out["etcd write -> answer p99 ms"] = p50, p99
    finally:
        sky.stop()


def scale(etcd_url: str, work: Path, keys: int) -> dict[str, float]:
    out: dict[str, float] = {}
    api = FakeApi().start()
    try:
        api_cluster(api)
        out["kube2sky first sync s (envelope: 10k svc, 1k headless x 10, 150k pods)"] = first_sync(
            etcd_url, api.url)
    finally:
        api.stop()
    written = len(etcdkv.dump(etcd_url, "/skydns/"))
    out["  keys it wrote"] = float(written)
    skydns_start(etcd_url, f"envelope, {written:,} keys", out)
    etcdkv.delete_prefix(etcd_url, "/skydns/")
    path = work / "cluster.json"
    expected = cluster_file(path, keys // 4)
    out[f"kube2sky first sync s ({expected:,} keys, from a file)"] = first_sync(etcd_url, "", f"--from-file={path}")
    out["  keys written"] = float(len(etcdkv.dump(etcd_url, "/skydns/")))
    out["  keys expected"] = float(expected)
    skydns_start(etcd_url, f"{expected:,} keys", out, propagation=True)
    return out
