"""skydns under faults and abuse, as a process against a real etcd: no
amplification over UDP, a hung etcd noticed in bounded time, workers that
die with their parent.  Traffic on loopback only, every wait bounded."""

import os
import signal
import socket
import time

import dns.flags
import dns.message
import dns.rrset
import pytest

from tests import etcdkv
from tests.dnsq import ask
from tests.procs import Skydns, wait_until

AMP = "amp"


@pytest.fixture(scope="module")
def big_zone(etcd):
    """2,000 services under one domain: the apex holds a subtree of 55 KB."""
    etcdkv.delete_prefix(etcd.url, f"/{AMP}/")

    async def fill(c):
        for i in range(2000):
            await c.put(f"/{AMP}/local/cluster/svc/ns{i % 20}/s{i}/h".encode(),
                        f'{{"host":"10.80.{i // 256}.{i % 256}","port":80}}'.encode())
    etcdkv.run(etcd.url, fill)
    sky = Skydns(etcd.url, "-domain=cluster.local.", f"-path-prefix={AMP}")
    yield sky
    sky.stop()
    etcdkv.delete_prefix(etcd.url, f"/{AMP}/")


def _udp(port, name, qtype, payload):
    q = dns.message.make_query(name, qtype, use_edns=0, payload=payload)
    wire = q.to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(wire, ("127.0.0.1", port))
        raw, _ = s.recvfrom(65535)
    reply = dns.message.from_wire(raw)
    return len(wire), raw, reply


# (question type, EDNS size the client claims)
AMPLIFICATION = [("SRV", 65535), ("A", 65535), ("SRV", 4096), ("A", 1232), ("SRV", 512)]


@pytest.mark.etcd
@pytest.mark.process
@pytest.mark.parametrize("qtype,payload", AMPLIFICATION, ids=[f"{t}-{p}" for t, p in AMPLIFICATION])
def test_udp_reply_never_exceeds_what_we_advertise(big_zone, qtype, payload):
    asked, raw, reply = _udp(big_zone.port, "cluster.local.", qtype, payload)
    assert len(raw) <= min(payload, 1232), (len(raw), asked)
    assert reply.flags & dns.flags.TC
    assert reply.payload == 1232  # what we advertise, whatever was claimed
    full = ask(big_zone.port, "cluster.local.", qtype, tcp=True, use_edns=0, payload=payload, timeout=10)
    got = sum(len(rrset) for rrset in full.answer)
    if qtype == "A":
        assert not full.flags & dns.flags.TC
        assert got == 2000
    else:
        # 2,000 SRV targets (never compressed, RFC 2782) outgrow one 64 KB
        # message: TCP carries what one message holds, 20 times the UDP reply
        assert got >= 20 * max(1, sum(len(rrset) for rrset in reply.answer))
        assert len(full.to_wire()) > 32768
    # asked again: the kept packet is the capped one too
    assert len(_udp(big_zone.port, "cluster.local.", qtype, payload)[1]) <= 1232


def test_a_relayed_reply_is_cut_to_what_we_advertise():
    from skydns import wire
    q = dns.message.make_query("big.example.", "TXT", use_edns=0, payload=65535)
    big = dns.message.make_response(q)
    big.use_edns(0, payload=4096)
    for i in range(40):
        big.answer.append(dns.rrset.from_text("big.example.", 60, "IN", "TXT", '"%s"' % ("x" * 100 + str(i))))
    small = dns.message.make_response(q)
    small.answer.append(dns.rrset.from_text("big.example.", 60, "IN", "TXT", '"short"'))
    for packet, cut in ((big.to_wire(max_size=65535), True), (small.to_wire(), False)):
        out = wire.fit_udp(packet)
        assert len(out) <= 1232
        m = dns.message.from_wire(out)
        assert bool(m.flags & dns.flags.TC) is cut
        assert (out == packet) is not cut
        assert m.question == q.question and m.id == q.id
    junk = big.to_wire(max_size=65535)[:12] + b"\xff" * 2000  # no parser makes sense of it
    out = wire.fit_udp(junk)
    assert len(out) == 12 and out[:2] == junk[:2] and out[2] & 0x02


@pytest.mark.etcd
@pytest.mark.process
@pytest.mark.slow
def test_hung_etcd_is_noticed_and_answers_go_on(etcd):
    """A relay between skydns and etcd stops moving bytes without closing:
    not ready within 10 s, every answer still right, caught up soon after."""
    from tests.tcpproxy import Proxy
    from tests.test_reliability import Load, put_names

    etcdkv.delete_prefix(etcd.url, "/hang/")
    names = put_names(etcd.url, "hang", 20)
    proxy = Proxy(int(etcd.url.rsplit(":", 1)[1]))
    sky = Skydns(f"http://127.0.0.1:{proxy.port}", "-domain=cluster.local.", "-path-prefix=hang")
    load = Load(sky.port, names)
    load.start()
    try:
        time.sleep(1)
        proxy.stall()
        hung = time.monotonic()
        wait_until(lambda: sky.http("/readiness")[0] == 503, 10, "not ready within 10 s of etcd hanging")
        noticed = time.monotonic() - hung
        etcdkv.put(etcd.url, {"/hang/local/cluster/late": '{"host":"10.70.9.9"}'})  # beside the relay
        time.sleep(2)
        asked = load.asked
        proxy.resume()
        wait_until(lambda: sky.http("/readiness")[0] == 200, 10, "ready again after etcd answers")
        wait_until(lambda: ask(sky.port, "late.cluster.local.").answer, 5, "the change made while hung")
    finally:
        load.stop.set()
        load.join(5)
        proxy.resume()
        sky.stop()
        proxy.cut()
        etcdkv.delete_prefix(etcd.url, "/hang/")
    print(f"hung etcd noticed after {noticed:.1f}s")
    assert asked > 200 and load.failed == 0, (asked, load.failures[:5])


@pytest.mark.etcd
@pytest.mark.process
def test_a_watch_that_stops_delivering_is_restarted(etcd):
    """etcd is fine but the watch stream delivers nothing (a stuck stream):
    the mirror's own deadline notices the change it owes and watches again
    from the last revision it applied."""
    import asyncio

    import aetcd

    from skydns.config import Config, normalise
    from skydns.handler import State
    from skydns.metrics import Metrics
    from skydns.mirror import Mirror
    from skydns.store import Store
    from skydns_common.etcd import Endpoints

    etcdkv.delete_prefix(etcd.url, "/stuck/")

    async def go():
        state = State(Store("stuck"), normalise(Config(domain="cluster.local.", path_prefix="stuck")))
        mirror = Mirror(Endpoints([etcd.url]), state, Metrics(), lambda raw: None)
        mirror.check_every, mirror.check_timeout = 0.5, 2.0
        deaf = {"on": True}
        applied = mirror._apply
        mirror._apply = lambda event: None if deaf["on"] else applied(event)
        task = asyncio.create_task(mirror.run())
        try:
            await asyncio.wait_for(mirror.synced.wait(), 10)
            waited = time.monotonic()
            while not state.connected:  # watching
                assert time.monotonic() - waited < 10, "the watch never started"
                await asyncio.sleep(0.01)
            async with aetcd.Client("127.0.0.1", int(etcd.url.rsplit(":", 1)[1])) as c:
                await c.put(b"/stuck/local/cluster/x", b'{"host":"10.70.8.8"}')
            start = time.monotonic()
            while state.connected:
                assert time.monotonic() - start < 5, "the stuck watch was not noticed"
                await asyncio.sleep(0.05)
            noticed = time.monotonic() - start
            deaf["on"] = False
            while "/stuck/local/cluster/x" not in state.store.raw:
                assert time.monotonic() - start < 10, "the change never arrived"
                await asyncio.sleep(0.05)
            return noticed
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    noticed = asyncio.run(go())
    etcdkv.delete_prefix(etcd.url, "/stuck/")
    print(f"stuck watch noticed after {noticed:.1f}s")
    assert noticed <= 2 * 0.5 + 2.0



@pytest.mark.etcd
@pytest.mark.process
def test_writes_outside_the_prefix_cost_one_scan_not_one_per_check(etcd, monkeypatch):
    """etcd's revision moves for a key outside the prefix: the watchdog reads
    the prefix's keys once, finds nothing owed, and does not read them
    again while etcd's revision stays there."""
    import asyncio

    import aetcd

    import skydns.mirror
    from skydns.config import Config, normalise
    from skydns.handler import State
    from skydns.metrics import Metrics
    from skydns.mirror import Mirror
    from skydns.store import Store
    from skydns_common.etcd import Endpoints

    scans = []
    scan = skydns.mirror.first_change_after

    async def counted(*args, **kw):
        scans.append(args[2])
        return await scan(*args, **kw)

    monkeypatch.setattr(skydns.mirror, "first_change_after", counted)
    etcdkv.delete_prefix(etcd.url, "/quiet/")

    async def go():
        state = State(Store("quiet"), normalise(Config(domain="cluster.local.", path_prefix="quiet")))
        mirror = Mirror(Endpoints([etcd.url]), state, Metrics(), lambda raw: None)
        mirror.check_every, mirror.check_timeout = 0.1, 2.0
        task = asyncio.create_task(mirror.run())
        try:
            await asyncio.wait_for(mirror.synced.wait(), 10)
            while not state.connected:  # watching
                await asyncio.sleep(0.01)
            async with aetcd.Client("127.0.0.1", int(etcd.url.rsplit(":", 1)[1])) as c:
                await c.put(b"/elsewhere/leader", b"x")
            await asyncio.sleep(2.0)  # some 20 checks
            assert state.connected
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())
    etcdkv.delete_prefix(etcd.url, "/elsewhere/")
    assert len(scans) == 1, len(scans)


# (wait before the last start, how long the worker ran, the next wait)
RESTART_WAITS = [
    (None, 0.1, 0.5),      # the first death
    (0.5, 0.1, 1.0),       # dying at once again: twice as long
    (8.0, 0.1, 10.0),      # never more than 10 s
    (10.0, 5.0, 10.0),
    (10.0, 30.0, 0.5),     # after a healthy run, as short as the first time
    (4.0, 3600.0, 0.5),
]


@pytest.mark.parametrize("last,ran_for,wait", RESTART_WAITS)
def test_restart_wait_resets_after_a_healthy_run(last, ran_for, wait):
    from skydns.workers import restart_wait
    assert restart_wait(last, ran_for) == wait


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.etcd
@pytest.mark.process
def test_workers_die_with_a_killed_parent(etcd):
    sky = Skydns(etcd.url, "-domain=cluster.local.", "-path-prefix=orphans", "-workers=2")
    worker = None
    try:
        wait_until(lambda: "worker 1 started (pid" in sky.output(), 10, "a worker")
        worker = int(sky.output().split("worker 1 started (pid ")[1].split(")")[0])
        wait_until(lambda: "skydns worker serving" in sky.output(), 20, "the worker serving")
        assert _alive(worker)
        os.kill(sky.proc.pid, signal.SIGKILL)
        sky.proc.wait()
        wait_until(lambda: not _alive(worker), 10, "the worker gone with its parent")
    finally:
        if worker and _alive(worker):
            os.kill(worker, signal.SIGKILL)
        sky.stop()


class BigUpstream:
    """A loopback DNS server answering every TXT question with ~3 KB of
    records, over UDP (whatever size the question allows) and TCP."""

    def __init__(self):
        import threading
        from tests.procs import free_port
        self.port = free_port()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.tcp = socket.socket()
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(8)
        for target in (self._serve_udp, self._serve_tcp):
            threading.Thread(target=target, daemon=True).start()

    @staticmethod
    def reply(data):
        q = dns.message.from_wire(data)
        r = dns.message.make_response(q)
        r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "TXT",
                                            *('"%s"' % (c * 200) for c in "abcdefghijklmno")))
        return r.to_wire(max_size=65535)

    def _serve_udp(self):
        while True:
            try:
                data, addr = self.udp.recvfrom(65535)
                self.udp.sendto(self.reply(data), addr)
            except OSError:
                return

    def _serve_tcp(self):
        while True:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            with conn:
                n = int.from_bytes(conn.recv(2), "big")
                data = b""
                while len(data) < n:
                    data += conn.recv(n - len(data))
                out = self.reply(data)
                conn.sendall(len(out).to_bytes(2, "big") + out)

    def close(self):
        self.udp.close()
        self.tcp.close()


@pytest.mark.etcd
@pytest.mark.process
def test_a_large_forwarded_reply_is_cut_over_udp_and_whole_over_tcp(etcd):
    up = BigUpstream()
    sky = Skydns(etcd.url, "-domain=cluster.local.", "-path-prefix=bigfwd", f"-nameservers=127.0.0.1:{up.port}")
    try:
        for _ in range(2):  # relayed, then from the forward cache
            _, raw, reply = _udp(sky.port, "big.example.com.", "TXT", 65535)
            assert len(raw) <= 1232 and reply.flags & dns.flags.TC, len(raw)
        full = ask(sky.port, "big.example.com.", "TXT", tcp=True, use_edns=0, payload=65535)
        assert len(full.to_wire()) > 3000 and not full.flags & dns.flags.TC
    finally:
        sky.stop()
        up.close()
