"""No client input can stop the server: 10,000 hypothesis-made packets
(random bytes, mutated real questions, compression loops, huge counts) go to
the handler in-process, where every reply must be a well-formed response to
the same ID, and to a running server over UDP, which must then still answer
a normal question correctly."""

import socket
import struct

import dns.message
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.dnsq import ask, records
from tests import etcdkv
from tests.procs import Skydns
from skydns.config import Config, normalise
from skydns.forward import Forwarder
from skydns.handler import Handler, State
from skydns.metrics import Metrics
from skydns.store import Store

pytestmark = [pytest.mark.etcd, pytest.mark.process, pytest.mark.slow]

QUESTIONS = [
    dns.message.make_query(n, t, use_edns=e).to_wire()
    for n, t, e in [("web.default.svc.cluster.local.", "A", None), ("_http._tcp.web.cluster.local.", "SRV", 0),
                    ("cluster.local.", "SOA", None), ("x.cluster.local.", "TXT", 0),
                    ("1.0.0.10.in-addr.arpa.", "PTR", None)]
]


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(QUESTIONS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert"]))
        if op == "cut":
            data = data[:draw(st.integers(0, len(data)))]
        elif op == "insert":
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            at = draw(st.integers(0, len(data) - 1))
            data[at] = (data[at] ^ (1 << draw(st.integers(0, 7)))) if op == "flip" else draw(st.integers(0, 255))
    return bytes(data)


@st.composite
def compression_loop(draw):
    qid = draw(st.integers(0, 0xFFFF))
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    target = draw(st.sampled_from([12, 14, 13]))
    return header + draw(st.binary(max_size=4)) + struct.pack("!H", 0xC000 | target) + b"\x00\x01\x00\x01"


@st.composite
def huge_counts(draw):
    counts = [draw(st.integers(0, 0xFFFF)) for _ in range(4)]
    return struct.pack("!HH", draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF)) & 0x7FFF) + \
        struct.pack("!HHHH", *counts) + draw(st.binary(max_size=64))


PACKETS = st.one_of(st.binary(max_size=600), mutated(), compression_loop(), huge_counts())


@pytest.fixture(scope="module")
def handler():
    store = Store("fuzz")
    store.replace([("/fuzz/local/cluster/svc/default/web/1", b'{"host":"10.0.0.1"}'),
                   ("/fuzz/local/cluster/web/_tcp/_http/1", b'{"host":"10.0.0.2","port":80}')], 1)
    state = State(store, normalise(Config(domain="cluster.local.", nameservers=(), path_prefix="fuzz")))
    return Handler(state, Forwarder(lambda: state.config), Metrics())


@pytest.fixture(scope="module")
def sky(etcd):
    etcdkv.put(etcd.url, {"/fuzz/local/cluster/svc/default/web/1": '{"host":"10.0.0.1"}'})
    srv = Skydns(etcd.url, "-domain=cluster.local.", "-path-prefix=fuzz")
    yield srv
    srv.stop()
    etcdkv.delete_prefix(etcd.url, "/fuzz/")


def test_fuzz_10000_packets(handler, sky):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    seen = {"replies": 0}

    @settings(max_examples=10_000, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(PACKETS)
    def one(packet):
        out = handler.handle(packet, False)
        if out is not None and not isinstance(out, bytes):
            out.close()  # a forward: nothing to forward to here
            out = None
        if out is not None:
            assert out[:2] == packet[:2] and out[2] & 0x80, "a reply must answer the same ID"
            dns.message.from_wire(out)  # a whole, well-formed message
            seen["replies"] += 1
        try:
            sock.sendto(packet, ("127.0.0.1", sky.port))
        except BlockingIOError:
            pass
        assert handler.handle(QUESTIONS[0], False) is not None

    one()
    sock.close()
    assert seen["replies"] > 100
    assert sky.proc.poll() is None
    m = ask(sky.port, "web.default.svc.cluster.local.", "A")
    assert [r["address"] for r in records(m.answer)] == ["10.0.0.1"]
