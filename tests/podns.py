"""A pod's view of DNS, for test_pod_resolver: run inside a network and
mount namespace of the test's own (``unshare --net --mount
--propagation private``), never on the host's.

It brings up the namespace's loopback, bind-mounts a pod's resolv.conf
(search default.svc.cluster.local svc.cluster.local cluster.local, ndots:5,
nameserver 127.0.0.1) and an nsswitch.conf that resolves hosts by DNS only
over the host's files -- visible in this mount namespace alone -- starts
etcd, the fake API server, kube2sky following the kube-dns ConfigMap, and
skydns on 127.0.0.1:53, runs the README's ``skydnsctl hosts sync``, then
asks glibc's stub resolver (``getent hosts NAME``) as a pod would.  Prints
one JSON object: name -> [exit code, output], and the seconds from an API
edit of the ``hosts`` key to getent seeing the new address.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.fakeapi import FakeApi
from tests.k8sobj import config_map, service
from tests.procs import Etcd, Kube2sky, Skydns

RESOLV = "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.0.0.1\noptions ndots:5\n"
NAMES = ("registry", "paas-nacos-register", "nexus.tools", "web", "nn1", "dn1.hadoop")


def getent(name: str) -> tuple[int, str]:
    r = subprocess.run(["getent", "hosts", name], capture_output=True, text=True, timeout=10)
    return r.returncode, r.stdout.strip()


def until(name: str, want: str, timeout: float = 15) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        got = getent(name)
        if got[1].startswith(want + " ") or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def main(work: Path) -> int:
    if os.readlink("/proc/self/ns/net") == os.environ.get("PODNS_PARENT_NET"):
        sys.exit("refusing to run in the caller's network namespace")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for name, text in (("resolv.conf", RESOLV), ("nsswitch.conf", "hosts: dns\n")):
        (work / name).write_text(text)
        subprocess.run(["mount", "--bind", str(work / name), f"/etc/{name}"], check=True)
    etcd = Etcd("pod").start()
    api = FakeApi().start()
    procs = []
    try:
        api.put("services", service("web", "10.0.0.7"))
        api.put("configmaps", config_map("kube-dns", {
            "hosts": "10.0.0.1 registry paas-nacos-register\n10.0.0.3 nexus.tools\n"}))
        procs.append(Kube2sky(api.url, etcd.url, "--domain=cluster.local", "--config-map=kube-dns"))
        procs.append(Skydns(etcd.url, "-domain=cluster.local.", "-addr=127.0.0.1:53"))
        (work / "hosts").write_text("10.2.0.1 nn1 dn1.hadoop\n")
        procs.append(subprocess.Popen([sys.executable, "-m", "skydnsctl", f"--machines={etcd.url}",
                                       "hosts", "sync", str(work / "hosts"), "--watch"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        out: dict[str, object] = {}
        wants = {"registry": "10.0.0.1", "paas-nacos-register": "10.0.0.1", "nexus.tools": "10.0.0.3",
                 "web": "10.0.0.7", "nn1": "10.2.0.1", "dn1.hadoop": "10.2.0.1"}
        for name in NAMES:
            out[name] = until(name, wants[name])
        out["nothere"] = getent("nothere")
        start = time.monotonic()
        api.put("configmaps", config_map("kube-dns", {"hosts": "10.0.0.2 registry\n"}))
        out["registry-after-edit"] = until("registry", "10.0.0.2")
        out["edit-seconds"] = time.monotonic() - start
        print(json.dumps(out))
        return 0
    finally:
        for p in procs:
            if isinstance(p, subprocess.Popen):
                p.terminate()
                p.wait(10)
            else:
                p.stop()
        api.stop()
        etcd.cleanup()


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
