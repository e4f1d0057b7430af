"""Forwarding, stub zones and the response cache, against upstreams the test
starts on loopback: dnsmasq from Debian, a second skydns with its own
prefix, and sockets that never answer."""

import socket
import threading
import time

import dns.edns
import dns.message
import dns.rcode
import pytest

from tests.dnsq import ask, rcode, records
from tests import etcdkv
from tests.procs import Dnsmasq, Skydns

pytestmark = [pytest.mark.etcd, pytest.mark.process]

WWW = "www.example.com."


@pytest.fixture(scope="module")
def dnsmasq():
    d = Dnsmasq({"www.example.com": "192.0.2.10", "short.example.com": "192.0.2.11"}, ttl=30)
    yield d
    d.cleanup()


@pytest.fixture(scope="module")
def upstream(etcd):
    """A second skydns, authoritative for example.org under its own prefix."""
    etcdkv.put(etcd.url, {"/up/org/example/a": '{"host":"198.51.100.1"}'})
    srv = Skydns(etcd.url, "-domain=example.org.", "-path-prefix=up", "-no-rec")
    yield srv
    srv.stop()
    etcdkv.delete_prefix(etcd.url, "/up/")


class Blackhole:
    """A UDP port that takes questions and never answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"


class Recorder(threading.Thread):
    """A UDP upstream that answers NXDOMAIN and keeps what it was sent."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.got = []
        self.start()

    def run(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(65535)
            except OSError:
                return
            q = dns.message.from_wire(data)
            self.got.append(q)
            r = dns.message.make_response(q)
            r.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(r.to_wire(), peer)


def sky(etcd, *args, prefix="fwd"):
    return Skydns(etcd.url, "-domain=cluster.local.", f"-path-prefix={prefix}", *args)


@pytest.mark.parametrize("tcp", [False, True])
def test_forward_over_the_clients_transport(etcd, dnsmasq, tcp):
    s = sky(etcd, f"-nameservers={dnsmasq.addr}", "-rcache=0")
    try:
        m = ask(s.port, WWW, "A", tcp=tcp)
        assert [r["address"] for r in records(m.answer)] == ["192.0.2.10"]
        m = ask(s.port, "10.2.0.192.in-addr.arpa.", "PTR", tcp=tcp)
        assert [r["ptr"] for r in records(m.answer)] == [WWW]
    finally:
        s.stop()


def test_failover_to_the_next_nameserver(etcd, dnsmasq):
    hole = Blackhole()
    s = sky(etcd, f"-nameservers={hole.addr},{dnsmasq.addr}", "-ns-rotate=false", "-rtimeout=300ms")
    try:
        start = time.monotonic()
        m = ask(s.port, WWW, "A")
        assert [r["address"] for r in records(m.answer)] == ["192.0.2.10"]
        assert 0.3 <= time.monotonic() - start < 2
    finally:
        s.stop()


def test_servfail_promptly_when_no_upstream_answers(etcd):
    holes = [Blackhole(), Blackhole()]
    s = sky(etcd, f"-nameservers={holes[0].addr},{holes[1].addr}", "-rtimeout=300ms")
    try:
        start = time.monotonic()
        assert rcode(ask(s.port, WWW, "A", timeout=5)) == "SERVFAIL"
        assert time.monotonic() - start < 2 * 0.3 + 0.4
    finally:
        s.stop()


@pytest.mark.parametrize("args,name,want", [
    (["-no-rec"], WWW, "SERVFAIL"),
    (["-ndots=3"], "example.com.", "SERVFAIL"),
    (["-ndots=3"], WWW, "NOERROR"),
])
def test_no_rec_and_ndots(etcd, dnsmasq, args, name, want):
    s = sky(etcd, f"-nameservers={dnsmasq.addr}", *args)
    try:
        start = time.monotonic()
        assert rcode(ask(s.port, name, "A")) == want
        assert time.monotonic() - start < 1
    finally:
        s.stop()


def test_cache_hit_counted_and_ttl_counts_down(etcd, dnsmasq):
    s = sky(etcd, f"-nameservers={dnsmasq.addr}")
    try:
        before = dnsmasq.queries("short.example.com")
        first = ask(s.port, "short.example.com.", "A").answer[0].ttl
        time.sleep(2.1)
        second = ask(s.port, "short.example.com.", "A").answer[0].ttl
        assert second <= first - 2
        assert dnsmasq.queries("short.example.com") == before + 1
        assert s.metric("skydns_skydns_dns_cachehit_count_total", cache="response") >= 1
        assert s.metric("skydns_skydns_dns_cachemiss_count_total", cache="response") >= 1
    finally:
        s.stop()


def test_negative_answers_are_cached(etcd, upstream):
    s = sky(etcd, f"-nameservers=127.0.0.1:{upstream.port}")
    try:
        count = "skydns_skydns_dns_request_count_total"
        before = upstream.metric(count, system="auth")
        for _ in range(5):
            m = ask(s.port, "nope.example.org.", "A")
            assert rcode(m) == "NXDOMAIN"
        assert upstream.metric(count, system="auth") == before + 1
    finally:
        s.stop()


def test_serve_stale(etcd):
    d = Dnsmasq({"www.example.com": "192.0.2.10"}, ttl=1)
    stale = sky(etcd, f"-nameservers={d.addr}", "-rtimeout=200ms")
    strict = sky(etcd, f"-nameservers={d.addr}", "-rtimeout=200ms", "-serve-stale=false")
    try:
        for s in (stale, strict):
            assert rcode(ask(s.port, WWW, "A")) == "NOERROR"
        d.stop()
        time.sleep(1.5)
        m = ask(stale.port, WWW, "A")
        assert rcode(m) == "NOERROR" and m.answer[0].ttl == 30
        assert [r["address"] for r in records(m.answer)] == ["192.0.2.10"]
        assert rcode(ask(strict.port, WWW, "A")) == "SERVFAIL"
    finally:
        stale.stop()
        strict.stop()
        d.cleanup()


def test_search_path_storm_costs_one_upstream_query_per_ttl(etcd, dnsmasq):
    s = sky(etcd, f"-nameservers={dnsmasq.addr}", prefix="storm")
    try:
        before = dnsmasq.queries("www.example.com")
        for _ in range(20):
            for suffix in ("default.svc.cluster.local.", "svc.cluster.local.", "cluster.local."):
                assert rcode(ask(s.port, "www.example.com." + suffix, "A")) == "NXDOMAIN"
            assert rcode(ask(s.port, WWW, "A")) == "NOERROR"
        assert dnsmasq.queries("www.example.com") == before + 1
        assert dnsmasq.queries("www.example.com.cluster.local") == 0
    finally:
        s.stop()


def test_stub_zone_routes_a_zone_and_follows_the_store(etcd, upstream, dnsmasq):
    rec = Recorder()
    stub_key = "/stubt/local/cluster/dns/stub/org/example/ns1"
    etcdkv.put(etcd.url, {stub_key: f'{{"host":"127.0.0.1","port":{upstream.port}}}'})
    s = sky(etcd, f"-nameservers={dnsmasq.addr}", "-stubzones", prefix="stubt")
    try:
        m = ask(s.port, "a.example.org.", "A")
        assert [r["address"] for r in records(m.answer)] == ["198.51.100.1"]
        # re-point the zone: the next question goes to the new server, with the loop guard
        etcdkv.put(etcd.url, {stub_key: f'{{"host":"127.0.0.1","port":{rec.addr.split(":")[1]}}}'})
        deadline = time.monotonic() + 2
        while not rec.got and time.monotonic() < deadline:
            ask(s.port, "b.example.org.", "A")
            time.sleep(0.05)
        assert rec.got, "the stub zone did not follow the store"
        opts = [o for o in rec.got[-1].options if o.otype == 65011]
        assert opts and opts[0].to_wire() == b"\x01"
        # a question that already carries the guard is dropped
        q = dns.message.make_query("c.example.org.", "A", use_edns=0,
                                   options=[dns.edns.GenericOption(65011, b"\x01")])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(0.5)
            c.sendto(q.to_wire(), ("127.0.0.1", s.port))
            with pytest.raises(socket.timeout):
                c.recvfrom(65535)
        # names outside stub zones still go to the nameservers
        assert [r["address"] for r in records(ask(s.port, WWW, "A").answer)] == ["192.0.2.10"]
    finally:
        s.stop()
        rec.sock.close()
        etcdkv.delete_prefix(etcd.url, "/stubt/")


class BigUpstream(threading.Thread):
    """A UDP upstream whose every answer is ~1,100 bytes of TXT, whatever
    size the question allows."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.start()

    def run(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(65535)
            except OSError:
                return
            q = dns.message.from_wire(data)
            r = dns.message.make_response(q)
            for i in range(10):
                r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "TXT", '"%s"' % ("x" * 100 + str(i))))
            self.sock.sendto(r.to_wire(max_size=65535), peer)


@pytest.mark.parametrize("edns", [None, 512])
def test_a_relayed_reply_is_cut_to_the_clients_limit(etcd, edns):
    """A forwarded (then a forward-cached) reply larger than the client's
    512 bytes comes back as a TC reply within 512, not within 1,232."""
    up = BigUpstream()
    s = sky(etcd, f"-nameservers={up.addr}")
    try:
        for _ in range(2):  # forwarded, then from the forward cache
            kw = {} if edns is None else {"use_edns": 0, "payload": edns}
            q = dns.message.make_query("big.example.", "TXT", **kw)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
                c.settimeout(5)
                c.sendto(q.to_wire(), ("127.0.0.1", s.port))
                out = c.recv(65535)
            assert len(out) <= 512
            m = dns.message.from_wire(out)
            assert m.id == q.id and m.flags & dns.flags.TC
    finally:
        s.stop()
        up.sock.close()


def test_a_truncated_upstream_reply_is_relayed_to_a_udp_client_as_is(etcd):
    """The client asked over UDP: the upstream's TC reply goes back to it
    (it asks again over TCP itself) without a TCP round trip of ours,
    which would only be cut back to a TC header."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", port))
    tcp.listen(4)
    tcp.settimeout(0.5)
    accepted = []

    def answer():
        data, peer = udp.recvfrom(65535)
        r = dns.message.make_response(dns.message.from_wire(data))
        r.flags |= dns.flags.TC
        udp.sendto(r.to_wire(), peer)

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    s = sky(etcd, f"-nameservers=127.0.0.1:{port}", "-rcache=0")
    try:
        m = ask(s.port, WWW, "A")
        assert m.flags & dns.flags.TC and m.rcode() == dns.rcode.NOERROR
        try:
            accepted.append(tcp.accept()[0])
        except TimeoutError:
            pass
        assert accepted == []
    finally:
        s.stop()
        for sock in [udp, tcp, *accepted]:
            sock.close()
