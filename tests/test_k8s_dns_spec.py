"""The Kubernetes DNS specification on a cluster of today, through the whole
stack: a fake API server that serves EndpointSlices (and dual-stack
Services), kube2sky writing etcd, skydns answering; the questions and the
answers the specification calls for, as a table."""

import ipaddress

import pytest

from kube2sky import records as rec
from tests import etcdkv
from tests.dnsq import ask, rcode
from tests.fakeapi import FakeApi
from tests.k8sobj import endpoint_slice, service
from tests.procs import Kube2sky, Skydns, wait_until

pytestmark = [pytest.mark.etcd, pytest.mark.process]

P = "k8sspec"
HTTP = {"name": "http", "protocol": "TCP", "port": 80}
D = ".default.svc.cluster.local."


def H(ip):
    return rec.msg.hash_label(rec.value(ip))


OBJECTS = [
    ("services", service("web", "10.2.0.1", [HTTP], clusterIPs=["10.2.0.1", "fd00::2:1"],
                         ipFamilies=["IPv4", "IPv6"])),
    ("services", service("ext", "", type="ExternalName", externalName="db.example.org")),
    ("services", service("hl", "None", [HTTP])),
    ("endpointslices", endpoint_slice("hl-1", "hl", [(["10.1.0.1"], True, "web-0"), (["10.1.0.2"], None, None),
                                                      (["10.1.0.9"], False, "nr")], [HTTP])),
    ("endpointslices", endpoint_slice("hl-2", "hl", [(["10.1.0.3"], True, "web-0")], [HTTP])),
    ("endpointslices", endpoint_slice("hl-3", "hl", [(["fd00::7"], True, None)], [HTTP], address_type="IPv6")),
    ("services", service("other", "None")),  # selects one pod of hl too
    ("endpointslices", endpoint_slice("other-1", "other", [(["10.1.0.2"], True, "x")])),
    ("services", service("pn", "None", publishNotReadyAddresses=True)),
    ("endpointslices", endpoint_slice("pn-1", "pn", [(["10.3.0.1"], False, "late")])),
]


def rev(ip):
    return ipaddress.ip_address(ip).reverse_pointer + "."


# (question, type, the answer's data; "" for a NODATA)
CASES = [
    ("web" + D, "A", {"10.2.0.1"}),
    ("web" + D, "AAAA", {"fd00::2:1"}),
    ("_http._tcp.web" + D, "SRV", {"10 100 80 web" + D}),
    ("ext" + D, "CNAME", {"db.example.org."}),
    ("hl" + D, "A", {"10.1.0.1", "10.1.0.2", "10.1.0.3"}),
    ("hl" + D, "AAAA", {"fd00::7"}),
    ("web-0.hl" + D, "A", {"10.1.0.1", "10.1.0.3"}),  # two endpoints, one hostname: both
    (f"{H('10.1.0.2')}.hl" + D, "A", {"10.1.0.2"}),
    ("nr.hl" + D, "A", None),  # not ready, not published: no such name
    ("late.pn" + D, "A", {"10.3.0.1"}),  # published not ready
    (rev("10.2.0.1"), "PTR", {"web" + D}),
    (rev("fd00::2:1"), "PTR", {"web" + D}),
    (rev("10.1.0.3"), "PTR", {"web-0.hl" + D}),
    (rev("10.1.0.2"), "PTR", {f"{H('10.1.0.2')}.hl" + D, "x.other" + D}),  # one per service
    (rev("fd00::7"), "PTR", {f"{H('fd00::7')}.hl" + D}),
    ("dns-version.cluster.local.", "TXT", {'"1.0.0"'}),
]


@pytest.fixture(scope="module")
def stack(etcd):
    etcdkv.delete_prefix(etcd.url, f"/{P}/")
    api = FakeApi(slices=True).start()
    for kind, obj in OBJECTS:
        api.put(kind, obj)
    k2s = Kube2sky(api.url, etcd.url, f"--path-prefix={P}", "--domain=cluster.local", f"--leader-key=/k2s-{P}")
    sky = Skydns(etcd.url, "-domain=cluster.local.", f"-path-prefix={P}")
    k2s.wait_ready()
    wait_until(lambda: rcode(ask(sky.port, "late.pn" + D)) == "NOERROR", what="the last records answered")
    yield sky
    sky.stop()
    k2s.stop()
    api.stop()
    etcdkv.delete_prefix(etcd.url, f"/{P}/")


@pytest.mark.parametrize("name,qtype,want", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_specification(stack, name, qtype, want):
    m = ask(stack.port, name, qtype)
    if want is None:
        assert rcode(m) == "NXDOMAIN"
        return
    assert rcode(m) == "NOERROR"
    got = {rd.to_text() for rrset in m.answer if rrset.name.to_text().lower() == name.lower() for rd in rrset}
    assert got == want
    if qtype == "PTR":
        assert all(rrset.ttl == 30 for rrset in m.answer)
