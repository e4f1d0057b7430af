"""DNSSEC as the original offered it: every RRSIG checked by dnspython's
validator against the DNSKEY, NSEC3 denial for NXDOMAIN and NODATA, and
unchanged replies for clients without DO."""

import base64
import shutil
import subprocess
import sys
import time

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.rrset
import pytest

from tests import etcdkv
from tests.procs import REPO, Skydns

pytestmark = [pytest.mark.etcd, pytest.mark.process]

ZONE = "cluster.local."
P = "sec2"
D = f"/{P}/local/cluster"


def keygen(tmp, algorithm, zone=ZONE):
    binary = shutil.which("dnssec-keygen")
    assert binary, "dnssec-keygen is not installed: run `make setup` (Debian package bind9-utils)"
    out = subprocess.run([binary, "-a", algorithm, "-n", "ZONE", "-K", str(tmp), zone],
                         capture_output=True, text=True, check=True)
    return str(tmp / out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=["ECDSAP256SHA256", "RSASHA256"])
def servers(request, etcd, tmp_path_factory):
    etcdkv.put(etcd.url, {
        f"{D}/svc/default/web/1": '{"host":"10.0.0.1"}',
        f"{D}/svc/default/web/2": '{"host":"10.0.0.2"}',
        f"{D}/svc/default/db/_tcp/_pg/a": '{"host":"10.0.1.1","port":5432}',
        f"{D}/dns/ns/a": '{"host":"10.0.0.53"}',
    })
    key = keygen(tmp_path_factory.mktemp("keys"), request.param)
    signed = Skydns(etcd.url, f"-domain={ZONE}", f"-path-prefix={P}", f"-dnssec={key}", "-round-robin=false")
    plain = Skydns(etcd.url, f"-domain={ZONE}", f"-path-prefix={P}", "-round-robin=false")
    yield signed, plain
    signed.stop()
    plain.stop()
    etcdkv.delete_prefix(etcd.url, f"/{P}/")


def ask(port, name, qtype, do=True):
    q = dns.message.make_query(name, qtype, want_dnssec=do, use_edns=0 if do else None, payload=4096)
    # as a resolver asks: over TCP when the UDP reply (at most 1232 bytes) is truncated
    return dns.query.udp_with_fallback(q, "127.0.0.1", port=port, timeout=3)[0]


def dnskey(port):
    m = ask(port, ZONE, "DNSKEY")
    return m.find_rrset(m.answer, dns.name.from_text(ZONE), 1, dns.rdatatype.DNSKEY)


def validate_all(m, keys):
    """Every RRset of the zone in every section is signed, and every signature validates."""
    origin = dns.name.from_text(ZONE)
    checked = 0
    for section in (m.answer, m.authority, m.additional):
        sigs = {(r.name, r.covers): r for r in section if r.rdtype == dns.rdatatype.RRSIG}
        for rrset in section:
            if rrset.rdtype == dns.rdatatype.RRSIG or not rrset.name.is_subdomain(origin):
                continue
            sig = sigs.get((rrset.name, rrset.rdtype))
            assert sig is not None, f"no RRSIG for {rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}"
            dns.dnssec.validate(rrset, sig, {origin: keys})
            rr = sig[0]
            assert rr.expiration - rr.inception == 7 * 24 * 3600 + 3 * 3600  # now - 3 h .. now + 7 days
            assert abs(rr.inception - (time.time() - 3 * 3600)) < 300
            checked += 1
    return checked


@pytest.mark.parametrize("name,qtype", [
    ("web.default.svc.cluster.local.", "A"),
    ("_pg._tcp.db.default.svc.cluster.local.", "SRV"),
    (ZONE, "SOA"),
    (ZONE, "NS"),
    (ZONE, "DNSKEY"),
])
def test_every_rrset_signed_and_valid(servers, name, qtype):
    signed, _ = servers
    keys = dnskey(signed.port)
    m = ask(signed.port, name, qtype)
    assert m.flags & dns.flags.AD and m.ednsflags & dns.flags.DO
    assert validate_all(m, keys) >= 1


def nsec3s(m):
    return [r for r in m.authority if r.rdtype == dns.rdatatype.NSEC3]


def h(name):
    return int.from_bytes(base64.b32hexdecode(dns.dnssec.nsec3_hash(name, "", 0, 1)), "big")


def owner_hash(rrset):
    return int.from_bytes(base64.b32hexdecode(rrset.name.labels[0].decode().upper()), "big")


def covers(rrset, name):
    lo, hi = owner_hash(rrset), int.from_bytes(rrset[0].next, "big")
    return lo < h(name) < hi


def test_nxdomain_has_nsec3_denial(servers):
    signed, _ = servers
    m = ask(signed.port, "nothere.default.svc.cluster.local.", "A")
    assert m.rcode() == 3 and validate_all(m, dnskey(signed.port)) == 4  # SOA and three NSEC3
    n3 = nsec3s(m)
    assert len(n3) == 3 and all(r[0].algorithm == 1 and r[0].iterations == 0 and r[0].salt == b"" for r in n3)
    closest = "default.svc.cluster.local."
    assert owner_hash(n3[0]) == h(closest)                    # matches the closest encloser
    assert covers(n3[1], "nothere." + closest)                # covers the next closer name
    assert covers(n3[2], "*." + closest)                      # covers the wildcard


def test_nodata_has_nsec3_without_the_type(servers):
    signed, _ = servers
    m = ask(signed.port, "web.default.svc.cluster.local.", "TXT")
    assert m.rcode() == 0 and not m.answer
    (n3,) = nsec3s(m)
    assert owner_hash(n3) == h("web.default.svc.cluster.local.")
    types = {t for window, bitmap in n3[0].windows for t in _types(window, bitmap)}
    assert dns.rdatatype.A in types and dns.rdatatype.TXT not in types and dns.rdatatype.RRSIG in types
    validate_all(m, dnskey(signed.port))


def _types(window, bitmap):
    for i, byte in enumerate(bitmap):
        for bit in range(8):
            if byte & (0x80 >> bit):
                yield window * 256 + i * 8 + bit


@pytest.mark.parametrize("name,qtype", [
    ("web.default.svc.cluster.local.", "A"), ("nothere.cluster.local.", "A"),
    ("web.default.svc.cluster.local.", "TXT"), (ZONE, "SOA"),
])
def test_unsigned_clients_get_byte_identical_replies(servers, name, qtype):
    signed, plain = servers
    q = dns.message.make_query(name, qtype)
    q.id = 4242
    wire = q.to_wire()
    replies = []
    for srv in (signed, plain):
        import socket
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3)
            s.sendto(wire, ("127.0.0.1", srv.port))
            replies.append(s.recvfrom(65535)[0])
    assert replies[0] == replies[1]


def test_a_changed_record_gets_a_new_valid_signature(servers, etcd):
    signed, _ = servers
    keys = dnskey(signed.port)
    etcdkv.put(etcd.url, {f"{D}/svc/default/web/2": '{"host":"10.0.0.3"}'})
    import time
    deadline = time.monotonic() + 2
    while True:
        after = ask(signed.port, "web.default.svc.cluster.local.", "A")
        addrs = sorted(rd.address for r in after.answer if r.rdtype == 1 for rd in r)
        if addrs == ["10.0.0.1", "10.0.0.3"] or time.monotonic() > deadline:
            break
    assert addrs == ["10.0.0.1", "10.0.0.3"]
    validate_all(after, keys)
    etcdkv.put(etcd.url, {f"{D}/svc/default/web/2": '{"host":"10.0.0.2"}'})


def test_a_key_for_another_zone_is_refused(etcd, tmp_path):
    key = keygen(tmp_path, "ECDSAP256SHA256", zone="example.org.")
    out = subprocess.run([sys.executable, "-m", "skydns", f"-machines={etcd.url}", "-domain=cluster.local.",
                          f"-dnssec={key}", "-addr=127.0.0.1:1"], capture_output=True, text=True, timeout=30,
                         cwd=REPO)
    assert out.returncode == 2
    assert "is for example.org., not for the domain cluster.local." in out.stderr
