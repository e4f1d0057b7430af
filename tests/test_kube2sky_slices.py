"""EndpointSlices (discovery.k8s.io/v1) and v1 Endpoints give the same records.

A table of clusters, each written both ways (slices merged per service
versus the equivalent Endpoints), for the pure part; then kube2sky as a
process against two fake API servers, one serving slices (and telling so in
/apis) and one that does not, through the same sequence of changes, with
etcd compared byte for byte after each."""

import pytest

from kube2sky import records as rec, slices
from tests import etcdkv
from tests.fakeapi import FakeApi
from tests.k8sobj import endpoint_slice, endpoints, service
from tests.procs import Kube2sky, wait_until

OPT = rec.Options()
HTTP = {"name": "http", "protocol": "TCP", "port": 80}
DNS = {"name": "dns", "protocol": "UDP", "port": 53}

# (case, service, its v1 Endpoints, the same as EndpointSlices)
CASES = [
    ("one slice", service("hl", "None"),
     endpoints("hl", [{"addresses": [{"ip": "10.0.0.1", "hostname": "web-0"}, {"ip": "10.0.0.2"}], "ports": [HTTP]}]),
     [endpoint_slice("hl-a", "hl", [(["10.0.0.1"], True, "web-0"), (["10.0.0.2"], None, None)], [HTTP])]),
    ("several slices merged", service("hl", "None"),
     endpoints("hl", [{"addresses": [{"ip": "10.0.0.1"}], "ports": [HTTP]},
                      {"addresses": [{"ip": "10.0.0.2", "hostname": "b"}], "ports": [HTTP]}]),
     [endpoint_slice("hl-b", "hl", [(["10.0.0.2"], True, "b")], [HTTP]),
      endpoint_slice("hl-a", "hl", [(["10.0.0.1"], True, None)], [HTTP])]),
    ("not ready left out", service("hl", "None"),
     endpoints("hl", [{"addresses": [{"ip": "10.0.0.1"}], "notReadyAddresses": [{"ip": "10.0.0.9"}],
                       "ports": [DNS]}]),
     [endpoint_slice("hl-a", "hl", [(["10.0.0.1"], True, None), (["10.0.0.9"], False, None)], [DNS])]),
    ("not ready published", service("hl", "None", publishNotReadyAddresses=True),
     endpoints("hl", [{"addresses": [{"ip": "10.0.0.1"}], "notReadyAddresses": [{"ip": "10.0.0.9", "hostname": "n"}],
                       "ports": [DNS]}]),
     [endpoint_slice("hl-a", "hl", [(["10.0.0.1"], True, None), (["10.0.0.9"], False, "n")], [DNS])]),
    ("dual stack: one slice per family", service("hl", "None", clusterIPs=["None"]),
     endpoints("hl", [{"addresses": [{"ip": "10.0.0.1", "hostname": "a"}, {"ip": "fd00::1", "hostname": "a"}],
                       "ports": [HTTP]}]),
     [endpoint_slice("hl-4", "hl", [(["10.0.0.1"], True, "a")], [HTTP]),
      endpoint_slice("hl-6", "hl", [(["fd00::1"], True, "a")], [HTTP], address_type="IPv6"),
      endpoint_slice("hl-f", "hl", [(["db.example.org"], True, None)], [HTTP], address_type="FQDN")]),
]


@pytest.mark.parametrize("name,svc,eps,slcs", CASES, ids=[c[0] for c in CASES])
def test_slices_give_the_records_endpoints_give(name, svc, eps, slcs):
    want = rec.service_records(svc, eps, OPT)
    assert want  # every case publishes something
    assert rec.service_records(svc, slices.merge(("default", "hl"), slcs), OPT) == want


def _ips(endpoints_obj):
    return sorted(a["ip"] for s in endpoints_obj["subsets"] for a in s["addresses"])


def test_merger_turns_slice_events_into_endpoints_events():
    m = slices.Merger()
    a = endpoint_slice("web-a", "web", [(["10.0.0.1"], True, None)])
    b = endpoint_slice("web-b", "web", [(["10.0.0.2"], True, None)])
    listed = m.listed([a, endpoint_slice("orphan", "", [(["10.9.9.9"], True, None)])])
    assert [(e["metadata"]["name"], _ips(e)) for e in listed] == [("web", ["10.0.0.1"])]
    steps = [
        (("ADDED", b), [("MODIFIED", "web", ["10.0.0.1", "10.0.0.2"])]),
        (("DELETED", a), [("MODIFIED", "web", ["10.0.0.2"])]),
        # a slice moved to another service: both services change
        (("MODIFIED", endpoint_slice("web-b", "api", [(["10.0.0.2"], True, None)])),
         [("MODIFIED", "api", ["10.0.0.2"]), ("DELETED", "web", [])]),
        (("DELETED", endpoint_slice("web-b", "api", [])), [("DELETED", "api", [])]),
    ]
    for (etype, obj), want in steps:
        got = [(t, e["metadata"]["name"], _ips(e)) for t, e in m.event(etype, obj)]
        assert got == want, (etype, obj["metadata"]["name"])


# -- both paths as processes ----------------------------------------------------------


def _slices_of(eps_obj):
    """An Endpoints object as the EndpointSlice controller would cut it: one
    slice per subset and address family."""
    name, ns = eps_obj["metadata"]["name"], eps_obj["metadata"]["namespace"]
    out = []
    for i, subset in enumerate(eps_obj.get("subsets") or []):
        for family in ("IPv4", "IPv6"):
            triples = [([a["ip"]], ready, a.get("hostname"))
                       for key, ready in (("addresses", True), ("notReadyAddresses", False))
                       for a in subset.get(key) or [] if (":" in a["ip"]) == (family == "IPv6")]
            if triples:
                out.append(endpoint_slice(f"{name}-{i}-{family.lower()}", name, triples, subset.get("ports") or [],
                                          ns=ns, address_type=family))
    return out


class Both:
    """One cluster served twice: v1 Endpoints only, and EndpointSlices only."""

    def __init__(self):
        self.old, self.new = FakeApi(slices=False).start(), FakeApi(slices=True).start()
        self.slice_names = {}

    def put(self, kind, obj):
        if kind != "endpoints":
            self.old.put(kind, obj)
            self.new.put(kind, obj)
            return
        self.old.put(kind, obj)
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        made = _slices_of(obj)
        for s in made:
            self.new.put("endpointslices", s)
        for gone in self.slice_names.get(key, set()) - {s["metadata"]["name"] for s in made}:
            self.new.delete("endpointslices", key[0], gone)
        self.slice_names[key] = {s["metadata"]["name"] for s in made}

    def delete(self, kind, ns, name):
        self.old.delete(kind, ns, name)
        if kind == "endpoints":
            for gone in self.slice_names.pop((ns, name), set()):
                self.new.delete("endpointslices", ns, gone)
        else:
            self.new.delete(kind, ns, name)

    def stop(self):
        self.old.stop()
        self.new.stop()


STEPS = [
    ("put", "services", service("hl", "None", [HTTP])),
    ("put", "endpoints", endpoints("hl", [
        {"addresses": [{"ip": "10.1.0.1", "hostname": "web-0"}, {"ip": "10.1.0.2"}, {"ip": "fd00::7"}],
         "notReadyAddresses": [{"ip": "10.1.0.9"}], "ports": [HTTP]},
        {"addresses": [{"ip": "10.1.0.3", "hostname": "web-0"}], "ports": [DNS]}])),
    ("put", "services", service("web", "10.2.0.1", [HTTP], clusterIPs=["10.2.0.1", "fd00::2:1"],
                                ipFamilies=["IPv4", "IPv6"])),
    ("put", "services", service("ext", "", type="ExternalName", externalName="db.example.org")),
    ("put", "endpoints", endpoints("hl", [{"addresses": [{"ip": "10.1.0.2"}], "ports": [HTTP]}])),
    ("put", "services", service("hl", "None", [HTTP], publishNotReadyAddresses=True)),
    ("put", "endpoints", endpoints("hl", [{"addresses": [{"ip": "10.1.0.2"}], "ports": [HTTP],
                                           "notReadyAddresses": [{"ip": "10.1.0.8", "hostname": "late"}]}])),
    ("delete", "endpoints", ("default", "hl")),
    ("delete", "services", ("default", "web")),
]


def _tree(url, prefix):
    """Everything under a prefix, the prefix taken out of the keys."""
    return {k[len(prefix) + 2:]: v for k, v in etcdkv.dump(url, f"/{prefix}/").items()}


@pytest.fixture
def both(etcd):
    for p in ("old", "new"):
        etcdkv.delete_prefix(etcd.url, f"/{p}/")
    b = Both()
    procs = []
    try:
        for api, p in ((b.old, "old"), (b.new, "new")):
            procs.append(Kube2sky(api.url, etcd.url, f"--path-prefix={p}", "--domain=cluster.local",
                                  f"--leader-key=/k2s-{p}", "--watch-timeout=5"))
        for k in procs:
            k.wait_ready()
        yield b
    finally:
        for k in procs:
            k.stop()
        b.stop()
    for p in ("old", "new"):
        etcdkv.delete_prefix(etcd.url, f"/{p}/")


@pytest.mark.etcd
@pytest.mark.process
def test_both_paths_write_byte_identical_records(etcd, both):
    for i, (op, kind, obj) in enumerate(STEPS):
        if op == "put":
            both.put(kind, obj)
        else:
            both.delete(kind, *obj)
        what = f"step {i} ({op} {kind})"
        for p in ("old", "new"):
            wait_until(lambda: _written(_tree(etcd.url, p), i), timeout=10, what=f"{p} path after {what}")
        try:
            wait_until(lambda: _tree(etcd.url, "old") == _tree(etcd.url, "new"), timeout=5, what=what)
        except AssertionError:
            pass  # the comparison below shows the difference
        assert _tree(etcd.url, "new") == _tree(etcd.url, "old"), what
    # which API each kube2sky read: decided from /apis
    assert any(r.startswith("/apis/discovery.k8s.io/v1/endpointslices") for r in both.new.requests)
    assert not any(r.startswith("/api/v1/endpoints") for r in both.new.requests)
    assert any(r.startswith("/api/v1/endpoints") for r in both.old.requests)
    assert not any("endpointslices" in r for r in both.old.requests)
    assert any(r.rstrip("/") == "/apis" for r in both.old.requests + both.new.requests)


HL = "local/cluster/svc/default/hl"

#: after each step, a key that must be there (+) or gone (-), so equality is never of two stale trees
EXPECT = [
    ("-", f"{HL}/web-0"),
    ("+", f"{HL}/web-0/" + rec.msg.hash_label(rec.value("10.1.0.3"))),
    ("+", "local/cluster/svc/default/web/" + rec.msg.hash_label(rec.value("fd00::2:1"))),
    ("+", "local/cluster/svc/default/ext"),
    ("-", f"{HL}/web-0/" + rec.msg.hash_label(rec.value("10.1.0.3"))),
    ("+", f"{HL}/" + rec.msg.hash_label(rec.value("10.1.0.2"))),
    ("+", f"{HL}/late"),
    ("-", f"{HL}/late"),
    ("-", "local/cluster/svc/default/web/" + rec.msg.hash_label(rec.value("fd00::2:1"))),
]


def _written(tree, step):
    sign, key = EXPECT[step]
    return (key in tree) == (sign == "+")


@pytest.mark.etcd
@pytest.mark.process
def test_endpointslices_forbidden_falls_back_to_endpoints(etcd):
    """A cluster that serves EndpointSlices, with RBAC that does not grant them."""
    etcdkv.delete_prefix(etcd.url, "/forbid/")
    api = FakeApi(slices=True).start()
    api.forbidden.add("endpointslices")
    api.put("services", service("hl", "None"))
    api.put("endpoints", endpoints("hl", [{"addresses": [{"ip": "10.1.0.5", "hostname": "a"}]}]))
    k = Kube2sky(api.url, etcd.url, "--path-prefix=forbid", "--domain=cluster.local", "--leader-key=/k2s-forbid")
    try:
        k.wait_ready()
        wait_until(lambda: "/forbid/local/cluster/svc/default/hl/a" in etcdkv.dump(etcd.url, "/forbid/"),
                   what="headless records from v1 Endpoints")
        assert any(r.startswith("/apis/discovery.k8s.io/v1/endpointslices") for r in api.requests)
        assert "not allowed to list EndpointSlices" in k.output()
    finally:
        k.stop()
        api.stop()
        etcdkv.delete_prefix(etcd.url, "/forbid/")


def test_a_dump_with_endpointslices_reads_as_endpoints():
    """``kubectl get svc,endpointslices,pods -o yaml`` for --from-file."""
    import json

    from kube2sky import filesource
    svc, eps, slcs = CASES[1][1:]
    text = json.dumps({"kind": "List", "items": [svc, *slcs]})
    got = filesource.parse(text)
    assert [e["metadata"]["name"] for e in got["endpoints"]] == ["hl"]
    assert rec.service_records(svc, got["endpoints"][0], OPT) == rec.service_records(svc, eps, OPT)
