"""skydns run as a process against a real etcd: live changes, transport,
errors, health and metrics."""

import os
import socket
import struct
import time

import dns.flags
import dns.message
import dns.query
import pytest

from tests.dnsq import ask, rcode, records
from tests import etcdkv
from tests.procs import Etcd, Skydns, free_port

pytestmark = [pytest.mark.etcd, pytest.mark.process]

PREFIX = "srvtest"
ROOT = f"/{PREFIX}/local/cluster"


@pytest.fixture(scope="module")
def sky(etcd):
    etcdkv.delete_prefix(etcd.url, f"/{PREFIX}/")
    big = {f"{ROOT}/big/{i}": f'{{"host":"10.20.{i // 256}.{i % 256}"}}' for i in range(2000)}
    etcdkv.put(etcd.url, {
        f"{ROOT}/svc/default/web/1": '{"host":"10.0.0.1"}',
        f"{ROOT}/bad/json": "{not json",
        f"{ROOT}/bad/type": '{"host":["x"]}',
        f"{ROOT}/bad/huge": '{"host":"' + "h" * 100_000 + '"}',
        f"{ROOT}/good/a": '{"host":"10.9.0.1"}',
        **big,
    })
    srv = Skydns(etcd.url, "-domain=cluster.local.", f"--path-prefix={PREFIX}", "-round-robin=false",
                 "-tcp-idle-timeout", "1s")
    yield srv
    srv.stop()
    etcdkv.delete_prefix(etcd.url, f"/{PREFIX}/")


def addresses(port, name, **kw):
    m = ask(port, name, "A", **kw)
    return rcode(m), sorted(r["address"] for r in records(m.answer) if r["type"] == "A")


def wait_for(port, name, want, limit=0.1):
    start = time.monotonic()
    while True:
        got = addresses(port, name)
        elapsed = time.monotonic() - start
        if got == want:
            return elapsed
        if elapsed > 2:
            raise AssertionError(f"{name}: still {got}, want {want}")
        time.sleep(0.002)


@pytest.mark.parametrize("step,change,want", [
    ("add", {"put": {"/live/a": '{"host":"10.1.0.1"}'}}, ("NOERROR", ["10.1.0.1"])),
    ("add second", {"put": {"/live/b": '{"host":"10.1.0.2"}'}}, ("NOERROR", ["10.1.0.1", "10.1.0.2"])),
    ("update", {"put": {"/live/a": '{"host":"10.1.0.3"}'}}, ("NOERROR", ["10.1.0.2", "10.1.0.3"])),
    ("delete one", {"delete": ["/live/b"]}, ("NOERROR", ["10.1.0.3"])),
    ("delete last", {"delete": ["/live/a"]}, ("NXDOMAIN", [])),
])
def test_changes_visible_within_100ms(etcd, sky, step, change, want):
    puts = {ROOT + k: v for k, v in change.get("put", {}).items()}
    if puts:
        etcdkv.put(etcd.url, puts)
    if change.get("delete"):
        etcdkv.delete(etcd.url, *[ROOT + k for k in change["delete"]])
    elapsed = wait_for(sky.port, "live.cluster.local.", want)
    assert elapsed < 0.1, f"{step}: took {elapsed * 1000:.0f} ms"


@pytest.mark.parametrize("count", [1, 31, 32, 33, 64, 65, 300])
def test_queued_udp_questions_all_answered(sky, count):
    """Questions that arrive together are read in bursts and answered in
    batches: every one gets its own answer, cached, built or NXDOMAIN."""
    names = ["web.default.svc.cluster.local.", "good.cluster.local.", "nothing-here.cluster.local."]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.settimeout(5)
        want = {}
        for i in range(count):
            m = dns.message.make_query(f"{i}.big.cluster.local." if i % 4 == 3 else names[i % 3], "A")
            m.id = i
            want[i] = m
            s.sendto(m.to_wire(), ("127.0.0.1", sky.port))
        got = {}
        while len(got) < count:
            data, _ = s.recvfrom(4096)
            r = dns.message.from_wire(data)
            got[r.id] = r
    assert sorted(got) == list(range(count))
    for i, r in got.items():
        assert r.question == want[i].question
        assert rcode(r) == ("NXDOMAIN" if i % 4 != 3 and i % 3 == 2 else "NOERROR")


def test_the_program_reads_udp_through_the_c_batch(sky):
    """The running skydns has skydns._udp loaded (the source test is
    tests/test_udp.py), unless SKYDNS_PURE asks for the Python loop."""
    with open(f"/proc/{sky.proc.pid}/maps") as f:
        loaded = "/skydns/_udp." in f.read()
    assert ask(sky.port, "web.default.svc.cluster.local.", "A").answer
    assert loaded == (not os.environ.get("SKYDNS_PURE")), "skydns._udp not built (make setup) or not used"


def test_tcp_several_questions_per_connection(sky):
    with socket.create_connection(("127.0.0.1", sky.port), timeout=3) as s:
        for i in range(5):
            q = dns.message.make_query("web.default.svc.cluster.local.", "A")
            q.id = 1000 + i
            dns.query.send_tcp(s, q)
            r, _ = dns.query.receive_tcp(s)
            assert r.id == 1000 + i and [x["address"] for x in records(r.answer)] == ["10.0.0.1"]


def test_truncation_over_udp_full_over_tcp(sky):
    """A subtree of 2,000 records: TC within the client's buffer over UDP, all of it over TCP."""
    small = ask(sky.port, "big.cluster.local.", "A")
    assert small.flags & dns.flags.TC
    assert len(small.to_wire()) <= 512
    edns = ask(sky.port, "big.cluster.local.", "A", use_edns=0, payload=4096)
    assert edns.flags & dns.flags.TC and 512 < len(edns.to_wire()) <= 4096
    assert len(edns.answer[0]) > len(small.answer[0]) if small.answer else True
    full = ask(sky.port, "big.cluster.local.", "A", tcp=True, timeout=10)
    assert not full.flags & dns.flags.TC and len(full.answer[0]) == 2000


def test_invalid_values_skipped_and_counted(sky):
    assert addresses(sky.port, "good.cluster.local.") == ("NOERROR", ["10.9.0.1"])
    assert addresses(sky.port, "json.bad.cluster.local.")[0] == "NXDOMAIN"
    assert addresses(sky.port, "type.bad.cluster.local.")[0] == "NXDOMAIN"
    assert addresses(sky.port, "huge.bad.cluster.local.")[0] == "NXDOMAIN"
    status, text = sky.http("/metrics")
    assert status == 200
    line = [x for x in text.splitlines() if x.startswith("skydns_skydns_store_invalid_value_count_total")]
    assert line and float(line[0].split()[-1]) >= 3
    out = sky.output()
    assert out.count(f"skipping {ROOT}/bad/json") == 1 and f"skipping {ROOT}/bad/type" in out


def test_metrics_have_the_original_names(sky):
    ask(sky.port, "web.default.svc.cluster.local.", "A")
    ask(sky.port, "nothere.cluster.local.", "A")
    _, text = sky.http("/metrics")
    for name in ("skydns_skydns_dns_request_count_total{system=\"auth\"}",
                 "skydns_skydns_dns_request_duration_seconds_bucket",
                 "skydns_skydns_dns_response_size_bytes_bucket",
                 "skydns_skydns_dns_error_count_total{cause=\"nxdomain\",system=\"auth\"}"):
        assert name in text, name


@pytest.mark.parametrize("packet,want", [
    (b"\x12\x34", None),                                               # no header: dropped
    (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07exam", 1),  # truncated question: FORMERR
    (b"\x12\x34\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00" + b"\x00\x00\x01\x00\x01" * 2, 1),  # two questions
    (b"\x12\x34\x29\x00\x00\x00\x00\x00\x00\x00\x00\x00", 4),          # opcode UPDATE: NOTIMP
    (b"\x12\x34\x81\x80\x00\x00\x00\x00\x00\x00\x00\x00", None),       # a response: never answered
])
def test_malformed_packets(sky, packet, want):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(packet, ("127.0.0.1", sky.port))
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            data = None
    if want is None:
        assert data is None
    else:
        assert data is not None and data[:2] == b"\x12\x34" and data[2] & 0x80 and data[3] & 0x0F == want


def test_idle_tcp_connection_is_closed(sky):
    with socket.create_connection(("127.0.0.1", sky.port), timeout=5) as s:
        start = time.monotonic()
        assert s.recv(10) == b""  # server closes after -tcp-idle-timeout 1s
        assert 0.5 < time.monotonic() - start < 4
    # a slow sender is cut off too
    with socket.create_connection(("127.0.0.1", sky.port), timeout=5) as s:
        s.sendall(struct.pack("!H", 40) + b"\x00\x01")
        assert s.recv(10) == b""
    assert addresses(sky.port, "web.default.svc.cluster.local.") == ("NOERROR", ["10.0.0.1"])


def test_idle_tcp_clients_do_not_exhaust_the_server(sky):
    idle = [socket.create_connection(("127.0.0.1", sky.port), timeout=5) for _ in range(200)]
    try:
        assert addresses(sky.port, "web.default.svc.cluster.local.") == ("NOERROR", ["10.0.0.1"])
        assert addresses(sky.port, "web.default.svc.cluster.local.", tcp=True) == ("NOERROR", ["10.0.0.1"])
        time.sleep(1.5)  # -tcp-idle-timeout 1s: all of them closed by the server
        assert all(s.recv(1) == b"" for s in idle)
    finally:
        for s in idle:
            s.close()


def test_health_and_readiness(sky):
    assert sky.http("/healthz")[0] == 200
    assert sky.http("/readiness") == (200, "ready\n")


def test_servfail_until_synced_then_answers(etcd):
    """etcd not there yet: SERVFAIL (never NXDOMAIN), not ready, no crash;
    once etcd comes up the server syncs by itself."""
    late = Etcd("late")
    srv = Skydns(late.url, "-domain=cluster.local.", "-path-prefix=late", wait_ready=False)
    try:
        time.sleep(1.0)
        assert srv.proc.poll() is None
        assert rcode(ask(srv.port, "web.cluster.local.", "A")) == "SERVFAIL"
        assert srv.http("/readiness")[0] == 503
        late.start()
        etcdkv.put(late.url, {"/late/local/cluster/web": '{"host":"10.3.3.3"}'})
        srv.wait_ready(20)
        # the server may have listed just before the put (ready, name absent):
        # then the put comes by the watch, moments later
        wait_for(srv.port, "web.cluster.local.", ("NOERROR", ["10.3.3.3"]))
    finally:
        srv.stop()
        late.cleanup()


def test_ipv6_listener(etcd, sky):
    port = free_port()
    other = None
    try:
        other = Skydns(etcd.url, "-domain=cluster.local.", f"--path-prefix={PREFIX}", "-addr", f"[::1]:{port}")
        q = dns.message.make_query("web.default.svc.cluster.local.", "A")
        r = dns.query.udp(q, "::1", port=port, timeout=3)
        assert [x["address"] for x in records(r.answer)] == ["10.0.0.1"]
        r = dns.query.tcp(q, "::1", port=port, timeout=3)
        assert [x["address"] for x in records(r.answer)] == ["10.0.0.1"]
    finally:
        if other:
            other.stop()


def test_lease_shortens_ttl(etcd, sky):
    """A key bound to an etcd lease answers with the lease's remaining time."""
    port = int(etcd.url.rsplit(":", 1)[1])

    async def go():
        import aetcd
        async with aetcd.Client("127.0.0.1", port) as c:
            lease = await c.lease(40)
            await c.put(f"{ROOT}/leased/a".encode(), b'{"host":"10.4.4.4","ttl":300}', lease=lease)
            return lease.id

    import asyncio
    asyncio.run(go())
    wait_for(sky.port, "leased.cluster.local.", ("NOERROR", ["10.4.4.4"]), limit=2)
    time.sleep(0.3)
    ttl = ask(sky.port, "leased.cluster.local.", "A").answer[0].ttl
    assert 30 <= ttl <= 40
    other = ask(sky.port, "web.default.svc.cluster.local.", "A").answer[0].ttl
    assert other == 3600


def test_workers_share_the_port_and_report_to_the_parent(etcd, sky):
    import os
    import re
    srv = Skydns(etcd.url, "-domain=cluster.local.", f"--path-prefix={PREFIX}", "-workers=2")
    try:
        deadline = time.monotonic() + 10
        while "worker serving" not in srv.output():
            assert time.monotonic() < deadline, srv.output()
            time.sleep(0.1)
        started = [int(p) for p in re.findall(r"worker 1 started \(pid (\d+)\)", srv.output())]
        assert len(started) == 1, srv.output()  # started once, never restarted
        (child,) = started
        for _ in range(200):  # new source ports each time: the kernel spreads them over both processes
            assert addresses(srv.port, "web.default.svc.cluster.local.") == ("NOERROR", ["10.0.0.1"])
        time.sleep(1.5)
        total = srv.metric("skydns_skydns_dns_request_count_total")
        assert total >= 200
    finally:
        srv.stop()
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)
