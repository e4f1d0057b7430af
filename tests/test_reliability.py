"""Reliability: skydns keeps answering through etcd outages, compaction and
the loss of a cluster member; kube2sky converges after being killed in its
first sync.  Bounded in time, traffic on loopback only."""

import hashlib
import json
import random
import signal
import socket
import struct
import threading
import time

import pytest

from tests import etcdkv
from tests.fakeapi import FakeApi
from tests.k8sobj import service
from tests.procs import Etcd, Kube2sky, Skydns, wait_until
from tests.tcpproxy import Proxy

from kube2sky import records as k2s_records

pytestmark = [pytest.mark.etcd, pytest.mark.process, pytest.mark.slow]


def digest(url, prefix):
    h = hashlib.sha256()
    tree = etcdkv.dump(url, f"/{prefix}/")
    for key in sorted(tree):
        h.update(key.encode() + b"\0" + tree[key] + b"\0")
    return h.hexdigest()


def mirror(sky):
    status, body = sky.http("/debug/mirror")
    assert status == 200
    return json.loads(body)




def query(port, name, timeout=1.0):
    """(rcode, first address) over a raw UDP socket; rcode None on timeout."""
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    qid = random.randrange(65536)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0\1\0\1", ("127.0.0.1", port))
        try:
            data, _ = s.recvfrom(4096)
        except socket.timeout:
            return None, None
    rcode = data[3] & 0xF
    an = struct.unpack("!H", data[6:8])[0]
    return rcode, (socket.inet_ntoa(data[-4:]) if an else None)


class Load(threading.Thread):
    """A steady stream of questions for names that exist, counting failures."""

    def __init__(self, port, names):
        super().__init__(daemon=True)
        self.port, self.names = port, names
        self.stop = threading.Event()
        self.asked = self.failed = 0
        self.failures = []

    def run(self):
        while not self.stop.is_set():
            name, want = random.choice(list(self.names.items()))
            rcode, addr = query(self.port, name)
            self.asked += 1
            if rcode != 0 or addr != want:
                self.failed += 1
                self.failures.append((name, rcode, addr))
            time.sleep(0.005)


def put_names(url, prefix, n):
    names = {f"n{i}.cluster.local.": f"10.70.0.{i}" for i in range(n)}
    etcdkv.put(url, {f"/{prefix}/local/cluster/n{i}": f'{{"host":"10.70.0.{i}"}}' for i in range(n)})
    return names


def test_etcd_outage_answers_throughout_and_resumes_the_watch():
    e = Etcd("outage").start()
    sky = None
    load = None
    try:
        names = put_names(e.url, "out", 40)
        sky = Skydns(e.url, "-domain=cluster.local.", "-path-prefix=out")
        load = Load(sky.port, names)
        load.start()
        time.sleep(1)
        e.stop()
        wait_until(lambda: sky.http("/readiness")[0] == 503, 10, "not ready while etcd is down")
        time.sleep(20)
        assert sky.http("/readiness")[0] == 503
        e.start()
        # changes made right after the restart reach the mirror through the resumed watch
        etcdkv.put(e.url, {"/out/local/cluster/n0": '{"host":"10.70.1.0"}', "/out/local/cluster/late": '{"host":"10.70.9.9"}'})
        etcdkv.delete(e.url, "/out/local/cluster/n39")
        names["n0.cluster.local."] = "10.70.1.0"
        del names["n39.cluster.local."]
        wait_until(lambda: sky.http("/readiness")[0] == 200, 20, "ready again")
        wait_until(lambda: mirror(sky)["sha256"] == digest(e.url, "out"), 5, "mirror equals etcd")
        time.sleep(0.5)
    finally:
        if load:
            load.stop.set()
            load.join(5)
        out = sky.output() if sky else ""
        if sky:
            sky.stop()
        e.cleanup()
    assert load.asked > 1000, load.asked
    # a name that changed may briefly answer its old address; nothing may fail or vanish
    assert all(r == 0 and a is not None for _, r, a in load.failures), load.failures[:5]
    assert out.count("mirrored ") == 1, "the watch resumed instead of listing again"
    assert "from revision" in out.split("retrying")[-1]


def test_compaction_while_disconnected_relists_without_stale_records(etcd):
    port = int(etcd.url.rsplit(":", 1)[1])
    proxy = Proxy(port)
    put_names(etcd.url, "cmp", 10)
    sky = Skydns(f"http://127.0.0.1:{proxy.port}", "-domain=cluster.local.", "-path-prefix=cmp")
    try:
        proxy.cut()
        wait_until(lambda: sky.http("/readiness")[0] == 503, 10, "disconnected")
        etcdkv.delete(etcd.url, "/cmp/local/cluster/n1")
        etcdkv.put(etcd.url, {"/cmp/local/cluster/n2": '{"host":"10.70.2.2"}', "/cmp/local/cluster/new": '{"host":"10.70.3.3"}'})

        async def compact(c):
            rev = (await c.get_prefix(b"/cmp/")).header.revision
            await c.compact(rev)
        etcdkv.run(etcd.url, compact)
        assert query(sky.port, "n1.cluster.local.") == (0, "10.70.0.1")  # still the mirror's answer
        proxy.restore()
        wait_until(lambda: sky.http("/readiness")[0] == 200, 20, "reconnected")
        wait_until(lambda: mirror(sky)["sha256"] == digest(etcd.url, "cmp"), 5, "mirror equals etcd")
        assert query(sky.port, "n1.cluster.local.")[0] == 3
        assert query(sky.port, "n2.cluster.local.") == (0, "10.70.2.2")
        assert query(sky.port, "new.cluster.local.") == (0, "10.70.3.3")
        assert "compacted past revision" in sky.output()
    finally:
        sky.stop()
        proxy.cut()
        etcdkv.delete_prefix(etcd.url, "/cmp/")


class Cluster:
    """Three etcd members on loopback."""

    def __init__(self):
        self.members = [Etcd(f"m{i}") for i in range(3)]
        initial = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in self.members)
        for m in self.members:
            m.initial_cluster = initial
        for m in self.members:
            threading.Thread(target=m.start, daemon=True).start()
        deadline = time.monotonic() + 30
        for m in self.members:
            while True:
                try:
                    etcdkv.dump(m.url, "/nothing/")
                    break
                except Exception:  # noqa: BLE001
                    assert time.monotonic() < deadline, "cluster did not form"
                    time.sleep(0.2)

    @property
    def urls(self):
        return ",".join(m.url for m in self.members)

    def leader(self):
        """The member that leads the cluster now."""
        for m in self.members:
            if m.proc and m.proc.poll() is None:
                name = etcdkv.run(m.url, lambda c: c.status()).leader.name
                return next(x for x in self.members if x.name == name)
        raise AssertionError("no member is running")

    def cleanup(self):
        for m in self.members:
            m.cleanup()


def test_one_member_of_three_killed():
    cluster = Cluster()
    api = FakeApi().start()
    sky = k2s = None
    try:
        api.put("services", service("a", "10.71.0.1"))
        sky = Skydns(cluster.urls, "-domain=cluster.local.")
        k2s = Kube2sky(api.url, cluster.urls, "--domain=cluster.local", "--lease-ttl=3")
        k2s.wait_ready()
        wait_until(lambda: query(sky.port, "a.default.svc.cluster.local.") == (0, "10.71.0.1"), 10, "first record")
        victim = cluster.leader()
        victim.proc.kill()
        victim.proc.wait()
        api.put("services", service("b", "10.71.0.2"))
        wait_until(lambda: query(sky.port, "b.default.svc.cluster.local.") == (0, "10.71.0.2"), 30,
                   "a change written and served after the leader died")
        assert query(sky.port, "a.default.svc.cluster.local.") == (0, "10.71.0.1")
    finally:
        for p in (sky, k2s):
            if p:
                p.stop()
        api.stop()
        cluster.cleanup()


def test_kube2sky_killed_during_its_first_sync_converges(etcd):
    etcdkv.delete_prefix(etcd.url, "/mid/")
    etcdkv.delete_prefix(etcd.url, "/kube2sky/")
    api = FakeApi().start()
    svcs = [service(f"s{i}", f"10.72.{i // 256}.{i % 256}", [{"name": "http", "protocol": "TCP", "port": 80}])
            for i in range(1500)]
    for s in svcs:
        api.put("services", s)
    k = Kube2sky(api.url, etcd.url, "--path-prefix=mid", "--domain=cluster.local", "--lease-ttl=2")
    try:
        wait_until(lambda: len(etcdkv.dump(etcd.url, "/mid/")) > 0, 30, "the first writes")
        k.proc.send_signal(signal.SIGKILL)
        k.proc.wait()
        written = len(etcdkv.dump(etcd.url, "/mid/"))
        assert 0 < written < 1500 * 3 + 1, "not killed in the middle"
    finally:
        k.stop()
    for s in svcs[:100]:
        api.delete("services", "default", s["metadata"]["name"])
    api.put("services", service("fresh", "10.73.0.1"))
    want = k2s_records.desired([o for o in api.objects["services"].values()], {}, [],
                               k2s_records.Options(domain="cluster.local.", prefix="mid"))
    flat = {key: value for unit in want.values() for key, value in unit.items()}
    k = Kube2sky(api.url, etcd.url, "--path-prefix=mid", "--domain=cluster.local", "--lease-ttl=2")
    try:
        wait_until(lambda: {kk: v.decode() for kk, v in etcdkv.dump(etcd.url, "/mid/").items()} == flat, 60,
                   "exactly the desired records")
    finally:
        k.stop()
        api.stop()
        etcdkv.delete_prefix(etcd.url, "/mid/")
