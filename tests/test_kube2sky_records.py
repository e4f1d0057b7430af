"""Tables for kube2sky's pure parts: objects -> records, desired vs actual -> changes."""

import pytest

from kube2sky import owned as own, plan, records as rec
from skydns_common import msg

OPT = rec.Options()
V = rec.value


#: the label of a headless service's PTR leaves below the reversed IP (one per service)
HLP = "/" + msg.hash_label("hl.default.svc.cluster.local.")


def H(ip):
    """The hash label of an address leaf."""
    return msg.hash_label(V(ip))


def svc(name, ip, ports=(), ns="default", **spec):
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "ports": [dict(p) for p in ports], **spec}}


def eps(name, subsets, ns="default", annotations=None):
    return {"metadata": {"name": name, "namespace": ns, "annotations": annotations or {}}, "subsets": subsets}


D = "/skydns/local/cluster"

CASES = [
    ("clusterip", svc("redis", "10.0.0.1"), None, {
        f"{D}/svc/default/redis/c88f1059": V("10.0.0.1"),
        "/skydns/arpa/in-addr/10/0/0/1": '{"host":"redis.default.svc.cluster.local.","ttl":30}'}),
    ("named port", svc("web", "11.1.1.1", [{"name": "http", "protocol": "TCP", "port": 80},
                                           {"port": 81}, {"name": "x", "port": 82}]), None, {
        f"{D}/svc/default/web/2f15de08": V("11.1.1.1"),
        f"{D}/svc/default/web/_tcp/_http/2f15de08": V("web.default.svc.cluster.local.", 80),
        "/skydns/arpa/in-addr/11/1/1/1": '{"host":"web.default.svc.cluster.local.","ttl":30}'}),
    ("not allocated", svc("pending", ""), None, {}),
    # the CNAME leaf at the service's own key, where a CNAME question looks
    ("external name", svc("ext", "", type="ExternalName", externalName="db.example.org"), None, {
        f"{D}/svc/default/ext": V("db.example.org.")}),
    ("headless", svc("hl", "None"), eps("hl", [
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2", "hostname": "web-0"}, {"ip": "10.0.0.3"}],
         "notReadyAddresses": [{"ip": "10.0.0.9"}],
         "ports": [{"name": "http", "protocol": "TCP", "port": 80}, {"port": 81, "protocol": "TCP"}]}],
        annotations={rec.HOSTNAMES_ANNOTATION: '{"10.0.0.3":{"HostName":"web-1"},"10.0.0.1":{"HostName":"Not_A_Label"}}'}), {
        f"{D}/svc/default/hl/c88f1059": V("10.0.0.1"),
        f"{D}/svc/default/hl/web-0": V("10.0.0.2"),
        f"{D}/svc/default/hl/web-1": V("10.0.0.3"),
        f"{D}/svc/default/hl/_tcp/_http/c88f1059": V("c88f1059.hl.default.svc.cluster.local.", 80),
        f"{D}/svc/default/hl/_tcp/_http/web-0": V("web-0.hl.default.svc.cluster.local.", 80),
        f"{D}/svc/default/hl/_tcp/_http/web-1": V("web-1.hl.default.svc.cluster.local.", 80),
        "/skydns/arpa/in-addr/10/0/0/1" + HLP: '{"host":"c88f1059.hl.default.svc.cluster.local.","ttl":30}',
        "/skydns/arpa/in-addr/10/0/0/2" + HLP: '{"host":"web-0.hl.default.svc.cluster.local.","ttl":30}',
        "/skydns/arpa/in-addr/10/0/0/3" + HLP: '{"host":"web-1.hl.default.svc.cluster.local.","ttl":30}'}),
    ("headless without endpoints", svc("hl", "None"), None, {}),
    ("no ports at all", {"metadata": {"name": "bare", "namespace": "ns1"}, "spec": {"clusterIP": "10.0.183.39"}}, None, {
        f"{D}/svc/ns1/bare/e3b7df90": V("10.0.183.39"),
        "/skydns/arpa/in-addr/10/0/183/39": '{"host":"bare.ns1.svc.cluster.local.","ttl":30}'}),
    ("ipv6 clusterip", svc("v6", "fd00::1"), None, {
        f"{D}/svc/default/v6/" + __import__("skydns_common.msg").msg.hash_label(V("fd00::1")): V("fd00::1"),
        "/skydns/arpa/ip6/" + "/".join("fd00" + "0" * 27 + "1") : '{"host":"v6.default.svc.cluster.local.","ttl":30}'}),
    # dual stack: clusterIPs in ipFamilies order give A and AAAA; SRV once (it names the service)
    ("dual stack", svc("ds", "10.0.0.1", [{"name": "http", "protocol": "TCP", "port": 80}],
                       clusterIPs=["10.0.0.1", "fd00::1"], ipFamilies=["IPv4", "IPv6"]), None, {
        f"{D}/svc/default/ds/c88f1059": V("10.0.0.1"),
        f"{D}/svc/default/ds/{H('fd00::1')}": V("fd00::1"),
        f"{D}/svc/default/ds/_tcp/_http/c88f1059": V("ds.default.svc.cluster.local.", 80),
        "/skydns/arpa/in-addr/10/0/0/1": '{"host":"ds.default.svc.cluster.local.","ttl":30}',
        "/skydns/arpa/ip6/" + "/".join("fd00" + "0" * 27 + "1"): '{"host":"ds.default.svc.cluster.local.","ttl":30}'}),
    ("ipv6 single stack", svc("v6only", "fd00::1", clusterIPs=["fd00::1"], ipFamilies=["IPv6"]), None, {
        f"{D}/svc/default/v6only/{H('fd00::1')}": V("fd00::1"),
        "/skydns/arpa/ip6/" + "/".join("fd00" + "0" * 27 + "1"): '{"host":"v6only.default.svc.cluster.local.","ttl":30}'}),
    ("headless dual stack", svc("hl", "None", clusterIPs=["None"]), eps("hl", [
        {"addresses": [{"ip": "10.0.0.1", "hostname": "a"}, {"ip": "fd00::2"}]}]), {
        f"{D}/svc/default/hl/a": V("10.0.0.1"),
        f"{D}/svc/default/hl/{H('fd00::2')}": V("fd00::2"),
        "/skydns/arpa/in-addr/10/0/0/1" + HLP: '{"host":"a.hl.default.svc.cluster.local.","ttl":30}',
        "/skydns/arpa/ip6/" + "/".join("fd00" + "0" * 27 + "2") + HLP:
            '{"host":"' + H('fd00::2') + '.hl.default.svc.cluster.local.","ttl":30}'}),
    # two ready addresses with one hostname: both kept, below the name
    ("duplicate hostnames", svc("hl", "None"), eps("hl", [
        {"addresses": [{"ip": "10.0.0.1", "hostname": "web"}, {"ip": "10.0.0.2", "hostname": "web"}],
         "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}]), {
        f"{D}/svc/default/hl/web/c88f1059": V("10.0.0.1"),
        f"{D}/svc/default/hl/web/{H('10.0.0.2')}": V("10.0.0.2"),
        f"{D}/svc/default/hl/_tcp/_http/web/c88f1059": V("web.hl.default.svc.cluster.local.", 80),
        f"{D}/svc/default/hl/_tcp/_http/web/{H('10.0.0.2')}": V("web.hl.default.svc.cluster.local.", 80),
        "/skydns/arpa/in-addr/10/0/0/1" + HLP: '{"host":"web.hl.default.svc.cluster.local.","ttl":30}',
        "/skydns/arpa/in-addr/10/0/0/2" + HLP: '{"host":"web.hl.default.svc.cluster.local.","ttl":30}'}),
    # not-ready addresses are published when the service asks (DNS specification)
    ("publishNotReadyAddresses", svc("hl", "None", publishNotReadyAddresses=True), eps("hl", [
        {"addresses": [{"ip": "10.0.0.1"}], "notReadyAddresses": [{"ip": "10.0.0.2", "hostname": "b"}]}]), {
        f"{D}/svc/default/hl/c88f1059": V("10.0.0.1"),
        f"{D}/svc/default/hl/b": V("10.0.0.2"),
        "/skydns/arpa/in-addr/10/0/0/1" + HLP: '{"host":"c88f1059.hl.default.svc.cluster.local.","ttl":30}',
        "/skydns/arpa/in-addr/10/0/0/2" + HLP: '{"host":"b.hl.default.svc.cluster.local.","ttl":30}'}),
    ("tolerate-unready annotation",
     {**svc("hl", "None"), "metadata": {"name": "hl", "namespace": "default", "annotations": {
         "service.alpha.kubernetes.io/tolerate-unready-endpoints": "true"}}},
     eps("hl", [{"notReadyAddresses": [{"ip": "10.0.0.2"}]}]), {
        f"{D}/svc/default/hl/{H('10.0.0.2')}": V("10.0.0.2"),
        "/skydns/arpa/in-addr/10/0/0/2" + HLP: '{"host":"' + H('10.0.0.2') + '.hl.default.svc.cluster.local.","ttl":30}'}),
    ("not ready and not asked", svc("hl", "None", publishNotReadyAddresses=False),
     eps("hl", [{"notReadyAddresses": [{"ip": "10.0.0.2"}]}]), {}),
]


@pytest.mark.parametrize("name,service,endpoints,want", CASES, ids=[c[0] for c in CASES])
def test_service_records(name, service, endpoints, want):
    assert rec.service_records(service, endpoints, OPT) == want


def test_services_sharing_an_address_share_no_key():
    """A pod that two headless services select: each service's records,
    PTR included, are its own (one unit's write never takes another's key)."""
    subsets = [{"addresses": [{"ip": "10.0.0.1"}]}]
    a = rec.service_records(svc("a", "None"), eps("a", subsets), OPT)
    b = rec.service_records(svc("b", "None"), eps("b", subsets), OPT)
    assert len(a) == len(b) == 2 and not set(a) & set(b)
    assert {own.unit_of(k, v, OPT) for k, v in a.items()} == {("svc", "default", "a")}


# --legacy-names (spec §4): the v1.0-1.11 leaf of a ClusterIP service, and the
# 1.7-1.11 headless leaves D/<ns>/<svc>/<hash>, one per ready address, no SRV
LEGACY = [
    ("clusterip", svc("redis", "10.0.0.1"), None,
     {f"{D}/svc/default/redis/c88f1059": V("10.0.0.1"), f"{D}/default/redis": V("10.0.0.1")}),
    ("dual stack: the first family only", svc("redis", "10.0.0.1", clusterIPs=["10.0.0.1", "fd00::1"]), None,
     {f"{D}/svc/default/redis/c88f1059": V("10.0.0.1"), f"{D}/svc/default/redis/{H('fd00::1')}": V("fd00::1"),
      f"{D}/default/redis": V("10.0.0.1")}),
    ("headless", svc("hl", "None"), eps("hl", [
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2", "hostname": "web-0"}],
         "notReadyAddresses": [{"ip": "10.0.0.9"}],
         "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}]), {
        f"{D}/svc/default/hl/c88f1059": V("10.0.0.1"),
        f"{D}/svc/default/hl/web-0": V("10.0.0.2"),
        f"{D}/svc/default/hl/_tcp/_http/c88f1059": V("c88f1059.hl.default.svc.cluster.local.", 80),
        f"{D}/svc/default/hl/_tcp/_http/web-0": V("web-0.hl.default.svc.cluster.local.", 80),
        f"{D}/default/hl/c88f1059": V("10.0.0.1"),
        f"{D}/default/hl/{H('10.0.0.2')}": V("10.0.0.2")}),
]


@pytest.mark.parametrize("name,service,endpoints,want", LEGACY, ids=[c[0] for c in LEGACY])
def test_legacy_names(name, service, endpoints, want):
    assert rec.service_records(service, endpoints, rec.Options(legacy_names=True, ptr=False)) == want


@pytest.mark.parametrize("pods,want", [
    ([{"metadata": {"name": "p", "namespace": "default"}, "status": {"podIP": "1.2.3.4"}}],
     {("pod", "default", "1-2-3-4"): {f"{D}/pod/default/1-2-3-4/ad70cf0f": V("1.2.3.4")}}),
    ([{"metadata": {"name": "p", "namespace": "default"}, "status": {}}], {}),
])
def test_pod_records(pods, want):
    assert rec.pod_records(pods, OPT) == want


@pytest.mark.parametrize("key,value,unit", [
    (f"{D}/svc/ns/web/abc", V("1.1.1.1"), ("svc", "ns", "web")),
    (f"{D}/svc/ns/web/_tcp/_http/abc", V("x", 1), ("svc", "ns", "web")),
    (f"{D}/pod/ns/1-2-3-4/ad70cf0f", V("1.2.3.4"), ("pod", "ns", "1-2-3-4")),
    (f"{D}/dns-version", '{"text":"1.0.0"}', ("meta", "", "")),
    (f"{D}/ns/web", V("10.0.0.1"), None),  # a legacy leaf is owned only beside its service (owned below)
    (f"{D}/ns/web", '{"host":"10.0.0.1"}', None),
    (f"{D}/dns/ns", V("10.0.0.1"), None),
    (f"{D}/hadoop/nn1", '{"host":"10.1.1.1"}', None),
    (f"{D}/svc/ns/ext", V("db.example.org."), ("svc", "ns", "ext")),
    (f"{D}/ns/hl/c88f1059", V("10.0.0.1"), None),  # a legacy headless leaf: owned only beside its service (owned below)
    (f"{D}/ns/hl/web-0", V("10.0.0.1"), None),  # not the hash of its value: a custom record
    (f"{D}/ns/hl/c88f1059", '{"host":"10.0.0.1"}', None),
    ("/skydns/arpa/in-addr/10/0/0/4", '{"host":"c88f1059.hl.ns.svc.cluster.local.","ttl":30}', ("svc", "ns", "hl")),
    ("/skydns/arpa/in-addr/10/0/0/1", '{"host":"web.ns.svc.cluster.local."}', ("svc", "ns", "web")),
    ("/skydns/arpa/in-addr/10/0/0/2", '{"host":"w-0.web.ns.svc.cluster.local."}', ("svc", "ns", "web")),
    ("/skydns/arpa/in-addr/10/0/0/3", '{"host":"reverse.example.com."}', None),
    ("/skydns/local/other/x", V("1.1.1.1"), None),
])
def test_unit_of(key, value, unit):
    assert own.unit_of(key, value, OPT) == unit


LEGACY = V("10.0.0.1")
CLUSTER_IP = f"{D}/svc/ns/web/c88f1059"

# (what etcd holds, what kube2sky owns of it)
OWNED = [
    ("a legacy leaf beside its service's ClusterIP record",
     {CLUSTER_IP: LEGACY, f"{D}/ns/web": LEGACY},
     {("svc", "ns", "web"): {CLUSTER_IP: LEGACY, f"{D}/ns/web": LEGACY}}),
    ("a custom record of the legacy shape, no such service",
     {f"{D}/hadoop/nn1": V("10.1.1.1")}, {}),
    ("the legacy shape beside a service of another address",
     {CLUSTER_IP: LEGACY, f"{D}/ns/web": V("10.9.9.9")}, {("svc", "ns", "web"): {CLUSTER_IP: LEGACY}}),
    ("the legacy shape beside the service's SRV record only",
     {f"{D}/svc/ns/web/_tcp/_http/c88f1059": V("web.ns.svc.cluster.local.", 80), f"{D}/ns/web": LEGACY},
     {("svc", "ns", "web"): {f"{D}/svc/ns/web/_tcp/_http/c88f1059": V("web.ns.svc.cluster.local.", 80)}}),
    ("a legacy headless leaf beside its endpoint's record",
     {f"{D}/svc/ns/hl/web-0": LEGACY, f"{D}/ns/hl/c88f1059": LEGACY},
     {("svc", "ns", "hl"): {f"{D}/svc/ns/hl/web-0": LEGACY, f"{D}/ns/hl/c88f1059": LEGACY}}),
    ("a custom record of the legacy headless shape, no such service",
     {f"{D}/ns/hl/c88f1059": LEGACY}, {}),
    ("a custom record of another shape", {f"{D}/ns/web": '{"host":"10.0.0.1"}', CLUSTER_IP: LEGACY},
     {("svc", "ns", "web"): {CLUSTER_IP: LEGACY}}),
]


@pytest.mark.parametrize("tree,want", [o[1:] for o in OWNED], ids=[o[0] for o in OWNED])
def test_owned_never_guesses_from_a_value_alone(tree, want):
    as_bytes = {k: v.encode() for k, v in tree.items()}
    got = own.owned(as_bytes.items(), OPT)
    assert got == {u: {k: v.encode() for k, v in keys.items()} for u, keys in want.items()}


@pytest.mark.parametrize("want,have,puts,deletes", [
    ({"a": "1"}, {}, {"a": "1"}, []),
    ({"a": "1"}, {"a": b"1"}, {}, []),
    ({"a": "2"}, {"a": b"1"}, {"a": "2"}, []),
    ({"b": "1"}, {"a": b"1"}, {"b": "1"}, ["a"]),
    ({}, {"a": b"1", "c": b"2"}, {}, ["a", "c"]),
])
def test_diff_unit(want, have, puts, deletes):
    c = plan.diff_unit(("u",), want, have)
    assert (c.puts, c.deletes) == (puts, deletes)


def test_plan_covers_units_on_both_sides():
    changes = plan.plan({("a",): {"k1": "v"}}, {("b",): {"k2": b"v"}, ("c",): {"k3": b"v"}}, None)
    assert [(c.unit, c.puts, c.deletes) for c in changes] == [
        (("a",), {"k1": "v"}, []), (("b",), {}, ["k2"]), (("c",), {}, ["k3"])]


# (what, have before, changes written, have after): what etcd holds once changes are written
APPLIED = [
    ("puts are encoded", {}, [plan.Change(("u",), {"a": "1"})], {("u",): {"a": b"1"}}),
    ("a put replaces, a delete removes", {("u",): {"a": b"1", "b": b"2"}},
     [plan.Change(("u",), {"a": "3"}, ["b"])], {("u",): {"a": b"3"}}),
    ("a unit left empty is gone", {("u",): {"a": b"1"}, ("v",): {"c": b"1"}},
     [plan.Change(("u",), {}, ["a"])], {("v",): {"c": b"1"}}),
]


@pytest.mark.parametrize("what,have,changes,after", APPLIED, ids=[a[0] for a in APPLIED])
def test_applied(what, have, changes, after):
    plan.applied(have, changes)
    assert have == after


from hypothesis import given, strategies as st  # noqa: E402


@given(st.one_of(st.text(max_size=40), st.from_regex(r"\A[a-z0-9.-]{0,40}\Z"), st.ip_addresses().map(str)),
       st.integers(0, 65535))
def test_value_is_exactly_the_general_encoding(host, port):
    assert rec.value(host, port) == msg.dumps(msg.Service(host=host, port=port, priority=10, weight=10, ttl=30),
                                              kube2sky=True)


@pytest.mark.parametrize("key,place", [
    (f"{D}/svc/ns/web/c88f1059", ("svc", ["ns", "web", "c88f1059"])),
    (f"{D}/svc/ns/web/_tcp/_http/c88f1059", ("svc", ["ns", "web", "_tcp", "_http", "c88f1059"])),
    (f"{D}/svc/ns/web", ("svc", ["ns", "web"])),      # an ExternalName's own key
    (f"{D}/pod/ns/1-2-3-4/ad70cf0f", ("pod", ["ns", "1-2-3-4", "ad70cf0f"])),
    (f"{D}/dns-version", ("meta", [])),
    (f"{D}/ns/web", ("legacy", ["ns", "web"])),
    (f"{D}/dns/ns", None),
    (f"{D}/svc/ns", None),
    (f"{D}/ns/web/c88f1059", ("legacy", ["ns", "web", "c88f1059"])),   # a legacy headless leaf
    (f"{D}/hadoop/nn1/x/y", None),
    ("/skydns/local/other/ns/web", None),
])
def test_layout(key, place):
    assert own.layout(key, OPT.base) == place


def test_layout_keys_are_read_back_by_layout():
    assert own.layout(rec.service_key(OPT.base, "ns", "web") + "/1", OPT.base) == ("svc", ["ns", "web", "1"])
    assert own.layout(rec.legacy_key(OPT.base, "ns", "web"), OPT.base) == ("legacy", ["ns", "web"])
