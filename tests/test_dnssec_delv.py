"""Signed denial as a real validator sees it: BIND's ``delv`` (Debian
bind9-dnsutils), trusting the DNSKEY skydns serves, checks NXDOMAIN and
NODATA proofs -- including AAAA for a CNAME name whose target has only
IPv4, which a CNAME bit in the NSEC3 bitmap makes bogus (RFC 5155 §8.5)."""

import shutil
import subprocess

import dns.message
import dns.query
import dns.rdatatype
import pytest

from tests import etcdkv
from tests.procs import Skydns
from tests.test_dnssec import keygen

pytestmark = [pytest.mark.etcd, pytest.mark.process]

ZONE = "cluster.local."
P = "delv"
D = f"/{P}/local/cluster"


@pytest.fixture(scope="module")
def signed(etcd, tmp_path_factory):
    etcdkv.put(etcd.url, {
        f"{D}/svc/default/web/1": '{"host":"10.0.0.1"}',
        f"{D}/svc/default/alias": '{"host":"web.default.svc.cluster.local."}',
        f"{D}/svc/default/db/_tcp/_pg/a": '{"host":"10.0.1.1","port":5432}',
        f"{D}/txt/t": '{"text":"hello"}',
        f"{D}/dns/ns/a": '{"host":"10.0.0.53"}',
    })
    tmp = tmp_path_factory.mktemp("delv")
    key = keygen(tmp, "ECDSAP256SHA256")
    server = Skydns(etcd.url, f"-domain={ZONE}", f"-path-prefix={P}", f"-dnssec={key}")
    q = dns.message.make_query(ZONE, "DNSKEY", want_dnssec=True, payload=4096)
    m = dns.query.udp(q, "127.0.0.1", port=server.port, timeout=3)
    (keys,) = [r for r in m.answer if r.rdtype == dns.rdatatype.DNSKEY]
    anchor = tmp / "anchor.conf"
    anchor.write_text("trust-anchors {\n" + "".join(
        f'  {ZONE} static-key {k.flags} {k.protocol} {k.algorithm} "{_b64(k.key)}";\n' for k in keys) + "};\n")
    yield server, anchor
    server.stop()
    etcdkv.delete_prefix(etcd.url, f"/{P}/")


def _b64(data: bytes) -> str:
    import base64
    return base64.b64encode(data).decode()


def delv(server, anchor, name, qtype):
    binary = shutil.which("delv")
    assert binary, "delv is not installed: run `make setup` (Debian package bind9-dnsutils)"
    out = subprocess.run([binary, "@127.0.0.1", "-p", str(server.port), "-a", str(anchor), "+root=cluster.local",
                          "+nomultiline", name, qtype], capture_output=True, text=True, timeout=30)
    return out.stdout + out.stderr


# (name, type, what delv must print): every answer is validated from the served DNSKEY
CASES = [
    ("nothere.default.svc.cluster.local.", "A", "resolution failed: ncache nxdomain"),
    ("nothere.cluster.local.", "TXT", "resolution failed: ncache nxdomain"),
    ("web.default.svc.cluster.local.", "TXT", "resolution failed: ncache nxrrset"),
    ("alias.default.svc.cluster.local.", "AAAA", "resolution failed: ncache nxrrset"),
    ("t.txt.cluster.local.", "SRV", "resolution failed: ncache nxrrset"),
    ("web.default.svc.cluster.local.", "A", "; fully validated"),
    ("alias.default.svc.cluster.local.", "A", "; fully validated"),
]


@pytest.mark.parametrize("name,qtype,want", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_delv_validates(signed, name, qtype, want):
    server, anchor = signed
    out = delv(server, anchor, name, qtype)
    assert want in out, out
    if want.startswith("resolution failed"):
        assert "; negative response, fully validated" in out, out
    assert "insecure" not in out and "bogus" not in out and "broken trust chain" not in out, out
