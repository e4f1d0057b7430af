"""Tables for skydns_common.hosts: where a hosts-file name is served, the
parser, and which keys a set writes, claims and removes."""

import pytest

from skydns_common import hosts, msg

D = "cluster.local."


@pytest.mark.parametrize("name,zone,want", [
    ("registry", "", "registry.cluster.local."),
    ("nexus.tools", "", "nexus.tools.cluster.local."),
    ("Paas-Nacos-Register", "", "paas-nacos-register.cluster.local."),
    ("registry.example.com.", "", "registry.example.com.cluster.local."),
    ("nn1.hadoop.cluster.local", "", "nn1.hadoop.cluster.local."),
    ("dn1", "hadoop.cluster.local", "dn1.hadoop.cluster.local."),
    ("x.cluster.local", "hadoop.cluster.local", "x.cluster.local."),
])
def test_served_name(name, zone, want):
    assert hosts.served_name(name, D, zone) == want


@pytest.mark.parametrize("name,zone,needle", [
    ("registry", "hadoop.example.com", "outside the domain"),
    ("web.default.svc.cluster.local", "", "kube2sky and skydns own"),
    ("svc", "", "kube2sky and skydns own"),
    ("a.pod", "", "kube2sky and skydns own"),
    ("ns.dns.cluster.local", "", "kube2sky and skydns own"),
    ("dns-version", "", "kube2sky and skydns own"),
    ("cluster.local.", "", "the domain itself"),
    ("bad_label!", "", "not a valid DNS label"),
    ("a..b", "", "cannot be a key"),
])
def test_served_name_refuses(name, zone, needle):
    with pytest.raises(ValueError, match=needle):
        hosts.served_name(name, D, zone)


PARSE = [
    ("10.0.0.1 registry\n", {"registry.cluster.local.": ["10.0.0.1"]}),
    ("# c\n\n10.0.0.1 a b  # tail\n10.0.0.2 a\n10.0.0.1 a\n",
     {"a.cluster.local.": ["10.0.0.1", "10.0.0.2"], "b.cluster.local.": ["10.0.0.1"]}),
    ("fd00::0:1 v6\n", {"v6.cluster.local.": ["fd00::1"]}),
    ("", {}),
]


@pytest.mark.parametrize("text,want", PARSE)
def test_parse(text, want):
    assert hosts.parse(text, D) == want


@pytest.mark.parametrize("text,needle", [
    ("10.0.0.1\n", "line 1: expected"),
    ("ok 10.0.0.1\n", "line 1: expected"),
    ("10.0.0.1 a\n010.0.0.1 b\n", "line 2: expected"),
    ("10.0.0.1 a\n\n10.0.0.2 x.svc\n", "line 3: .*kube2sky"),
])
def test_parse_bad_line(text, needle):
    with pytest.raises(ValueError, match=needle):
        hosts.parse(text, D)


def test_records_key_layout_is_msg_s():
    got = hosts.records({"registry.cluster.local.": ["10.0.0.1", "fd00::1"]}, "skydns")
    v4, v6 = '{"host":"10.0.0.1"}', '{"host":"fd00::1"}'
    assert got == {f"/skydns/local/cluster/registry/{msg.hash_label(v4)}": v4,
                   f"/skydns/local/cluster/registry/{msg.hash_label(v6)}": v6}


def test_manifest_keys():
    assert hosts.manifest_keys(b'{"keys":["/a","/b"]}') == {"/a", "/b"}
    assert hosts.manifest_keys(None) == set()
    assert hosts.manifest_keys(b"not json") == set()
    assert hosts.manifest_keys(b'{"keys":"/a"}') == set()


V1, V2 = '{"host":"10.0.0.1"}', '{"host":"10.0.0.2"}'

# (case, want, had, existing, others, remove) -> (puts, deletes, claimed)
PLANS = [
    ("new key written and claimed", {"/a/1": V1}, [], {}, [], None, ({"/a/1": V1}, [], ["/a/1"])),
    ("own key unchanged: nothing to write", {"/a/1": V1}, ["/a/1"], {"/a/1": V1.encode()}, [], None,
     ({}, [], ["/a/1"])),
    ("left the set: removed", {}, ["/a/1"], {"/a/1": V1}, [], None, ({}, ["/a/1"], [])),
    ("left but already gone: nothing to delete", {}, ["/a/1"], {}, [], None, ({}, [], [])),
    ("another writer's key is not claimed", {"/a/1": V1}, [], {"/a/1": V1}, [], None, ({}, [], [])),
    ("another set's key is shared", {"/a/1": V1}, [], {"/a/1": V1}, ["/a/1"], None, ({}, [], ["/a/1"])),
    ("a key another set lists stays", {}, ["/a/1"], {"/a/1": V1}, ["/a/1"], None, ({}, [], [])),
    ("import removes only the names it updates", {"/a/2": V2}, ["/a/1", "/b/1"], {"/a/1": V1, "/b/1": V1}, [],
     ["/a/1"], ({"/a/2": V2}, ["/a/1"], ["/a/2", "/b/1"])),
]


@pytest.mark.parametrize("case,want,had,existing,others,remove,expected", PLANS, ids=[p[0] for p in PLANS])
def test_plan_set(case, want, had, existing, others, remove, expected):
    p = hosts.plan_set(want, had, existing, others, remove)
    assert (p.puts, p.deletes, p.claimed) == expected


@pytest.mark.parametrize("name,served", [
    ("registry.cluster.local.", True),
    ("cluster.local.", True),
    ("1.0.0.10.in-addr.arpa.", True),
    ("registry.", False),
    ("registry.example.com.", False),
])
def test_check_served(name, served):
    if served:
        hosts.check_served(name, D)
    else:
        with pytest.raises(ValueError, match="outside the domain"):
            hosts.check_served(name, D)
