"""Tables for kube2sky.customdns: the kube-dns ConfigMap's keys -> skydns
keys and config, the merge into /<prefix>/config, and the whole plan."""

import json

import pytest

from kube2sky import customdns as cd
from skydns_common import msg

D, P = "cluster.local.", "skydns"


def stub(zone, ip, port):
    v = msg.dumps(msg.Service(host=ip, port=port))
    return msg.key_of(f"{msg.hash_label(v)}.{zone}.stub.dns.cluster.local.", P), v


def host(name, ip):
    v = msg.dumps(msg.Service(host=ip))
    return f"{msg.key_of(name, P)}/{msg.hash_label(v)}", v


# (case, ConfigMap data, records by section, nameservers, sections in error)
DESIRED = [
    ("absent ConfigMap", None, {"stubDomains": {}, "hosts": {}}, None, {}),
    ("all three keys",
     {"stubDomains": '{"corp.example": ["10.1.2.3", "10.1.2.4:5353"], "v6.example": ["[fd00::1]:53"]}',
      "upstreamNameservers": '["8.8.8.8", "10.0.0.2:5353", "fd00::2"]',
      "hosts": "10.0.0.1 registry\n10.0.0.2 nexus.tools\n"},
     {"stubDomains": dict([stub("corp.example", "10.1.2.3", 53), stub("corp.example", "10.1.2.4", 5353),
                           stub("v6.example", "fd00::1", 53)]),
      "hosts": dict([host("registry.cluster.local.", "10.0.0.1"), host("nexus.tools.cluster.local.", "10.0.0.2")])},
     ("8.8.8.8:53", "10.0.0.2:5353", "[fd00::2]:53"), {}),
    ("empty upstream list leaves skydns's own", {"upstreamNameservers": "[]"},
     {"stubDomains": {}, "hosts": {}}, None, {}),
    ("bad JSON in one key: the others still parse", {"stubDomains": '{"corp.example": ["10.1.2.3"]',
                                                      "hosts": "10.0.0.1 registry\n"},
     {"hosts": dict([host("registry.cluster.local.", "10.0.0.1")])}, None, {"stubDomains": "not JSON"}),
    ("a stub nameserver that is a name", {"stubDomains": '{"corp.example": ["ns.corp.example"]}'},
     {"hosts": {}}, None, {"stubDomains": "is not IP or IP:port"}),
    ("a stub domain inside the cluster domain", {"stubDomains": '{"svc.cluster.local": ["10.1.2.3"]}'},
     {"hosts": {}}, None, {"stubDomains": "overlaps the cluster domain"}),
    ("stubDomains not an object", {"stubDomains": '["10.1.2.3"]'}, {"hosts": {}}, None,
     {"stubDomains": "must be a JSON object"}),
    ("upstreams not a list", {"upstreamNameservers": '"8.8.8.8"'}, {"stubDomains": {}, "hosts": {}}, None,
     {"upstreamNameservers": "must be a JSON list"}),
    ("more than 3 upstreams", {"upstreamNameservers": '["1.1.1.1","1.1.1.2","1.1.1.3","1.1.1.4"]'},
     {"stubDomains": {}, "hosts": {}}, None, {"upstreamNameservers": "at most 3"}),
    ("a bad hosts line", {"hosts": "10.0.0.1 ok\nnonsense\n"}, {"stubDomains": {}}, None,
     {"hosts": "line 2: expected"}),
    ("a port out of range", {"upstreamNameservers": '["8.8.8.8:70000"]'}, {"stubDomains": {}, "hosts": {}}, None,
     {"upstreamNameservers": "is not IP or IP:port"}),
]


@pytest.mark.parametrize("case,data,records,nameservers,errors", DESIRED, ids=[c[0] for c in DESIRED])
def test_desired(case, data, records, nameservers, errors):
    d = cd.desired(data, D, P)
    assert d.records == records
    assert d.nameservers == nameservers
    assert set(d.errors) == set(errors)
    for section, needle in errors.items():
        assert needle in d.errors[section]


MINE = {"nameservers": ["8.8.8.8:53"], "previous": None, "created": False}

# (case, config now, wanted nameservers, remembered) -> (new config, remembered after)
MERGES = [
    ("set into a config with other keys", b'{"ttl":60,"domain":"cluster.local."}', ("8.8.8.8:53",), {},
     ('{"ttl":60,"domain":"cluster.local.","nameservers":["8.8.8.8:53"]}', MINE)),
    ("no config yet: created", None, ("8.8.8.8:53",), {},
     ('{"nameservers":["8.8.8.8:53"]}', dict(MINE, created=True))),
    ("already as wanted: no write", b'{"nameservers":["8.8.8.8:53"]}', ("8.8.8.8:53",), MINE, (None, MINE)),
    ("the operator's list is remembered", b'{"nameservers":["1.1.1.1:53"]}', ("8.8.8.8:53",), {},
     ('{"nameservers":["8.8.8.8:53"]}', dict(MINE, previous=["1.1.1.1:53"]))),
    ("changed again: previous kept", b'{"nameservers":["8.8.8.8:53"]}', ("9.9.9.9:53",),
     dict(MINE, previous=["1.1.1.1:53"]),
     ('{"nameservers":["9.9.9.9:53"]}', {"nameservers": ["9.9.9.9:53"], "previous": ["1.1.1.1:53"], "created": False})),
    ("removed: the operator's list back", b'{"ttl":60,"nameservers":["8.8.8.8:53"]}', None,
     dict(MINE, previous=["1.1.1.1:53"]), ('{"ttl":60,"nameservers":["1.1.1.1:53"]}', {})),
    ("removed: the key goes, the others stay", b'{"ttl":60,"nameservers":["8.8.8.8:53"]}', None, MINE,
     ('{"ttl":60}', {})),
    ("removed: a config we created goes", b'{"nameservers":["8.8.8.8:53"]}', None, dict(MINE, created=True),
     (cd.DELETE, {})),
    ("removed after someone else changed it: theirs stays", b'{"nameservers":["7.7.7.7:53"]}', None, MINE,
     (None, {})),
    ("never ours: nothing", b'{"nameservers":["7.7.7.7:53"]}', None, {}, (None, {})),
]


@pytest.mark.parametrize("case,raw,want,mine,expected", MERGES, ids=[m[0] for m in MERGES])
def test_merge_config(case, raw, want, mine, expected):
    assert cd.merge_config(raw, want, mine) == expected


def test_merge_config_refuses_a_config_that_is_not_an_object():
    with pytest.raises(ValueError, match="not an object"):
        cd.merge_config(b"[1]", ("8.8.8.8:53",), {})


K1, V1 = host("registry.cluster.local.", "10.0.0.1")
K2, V2 = host("registry.cluster.local.", "10.0.0.2")
S1, SV1 = stub("corp.example", "10.1.2.3", 53)


def manifest(hosts=(), stubs=(), config=None):
    sections = {s: list(k) for s, k in (("hosts", hosts), ("stubDomains", stubs)) if k}
    m = {"source": "cm", "keys": sorted({*hosts, *stubs}), "sections": sections}
    if config:
        m["config"] = config
    return json.dumps(m, sort_keys=True)


# (case, data, manifest, existing, others, config) -> (puts, deletes, manifest after, config after, errors)
PLANS = [
    ("first apply", {"hosts": "10.0.0.1 registry\n", "stubDomains": '{"corp.example":["10.1.2.3"]}'},
     None, {}, set(), None,
     ({K1: V1, S1: SV1}, [], manifest([K1], [S1]), None, set())),
    ("a changed address: put and delete together", {"hosts": "10.0.0.2 registry\n"}, manifest([K1]), {K1: V1},
     set(), None, ({K2: V2}, [K1], manifest([K2]), None, set())),
    ("a removed key removes exactly its records", {}, manifest([K1], [S1]), {K1: V1, S1: SV1}, set(), None,
     ({}, sorted([K1, S1]), manifest(), None, set())),
    ("bad hosts keep the last good state", {"hosts": "garbage\n"}, manifest([K1]), {K1: V1}, set(), None,
     ({}, [], manifest([K1]), None, {"hosts"})),
    ("a record someone else wrote is not claimed", {"hosts": "10.0.0.1 registry\n"}, None, {K1: V1}, set(), None,
     ({}, [], manifest(), None, set())),
    ("a key a skydnsctl set lists stays", {}, manifest([K1]), {K1: V1}, {K1}, None, ({}, [], manifest(), None, set())),
    ("upstreams set", {"upstreamNameservers": '["8.8.8.8"]'}, None, {}, set(), b'{"ttl":60}',
     ({}, [], manifest(config=MINE), '{"ttl":60,"nameservers":["8.8.8.8:53"]}', set())),
    ("a config that is not JSON: upstreams reported, hosts still apply",
     {"upstreamNameservers": '["8.8.8.8"]', "hosts": "10.0.0.1 registry\n"}, None, {}, set(), b"{",
     ({K1: V1}, [], manifest([K1]), None, {"upstreamNameservers"})),
]


@pytest.mark.parametrize("case,data,man,existing,others,config,expected", PLANS, ids=[p[0] for p in PLANS])
def test_plan(case, data, man, existing, others, config, expected):
    d = cd.desired(data, D, P)
    assert cd.wanted_keys(d, man) >= set(existing)
    p = cd.plan(d, man, existing, others, config, "cm")
    puts, deletes, after, cfg, errors = expected
    assert (p.puts, p.deletes, p.config, set(p.errors)) == (puts, deletes, cfg, errors)
    assert json.loads(p.manifest) == json.loads(after)


def test_read_dir_layouts(tmp_path):
    from kube2sky.customsource import read_dir
    assert read_dir(str(tmp_path / "absent")) == (None, None)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "hosts").write_text("10.0.0.1 a\n")
    (plain / "unrelated").write_text("x")
    stamp, got = read_dir(str(plain))
    assert got == {"hosts": "10.0.0.1 a\n"}
    atomic = tmp_path / "atomic"
    (atomic / "..2026_1").mkdir(parents=True)
    (atomic / "..2026_1" / "stubDomains").write_text("{}")
    (atomic / "..data").symlink_to("..2026_1")
    (atomic / "stubDomains").symlink_to("..data/stubDomains")
    assert read_dir(str(atomic)) == (("atomic", "..2026_1"), {"stubDomains": "{}"})
    (atomic / "..2026_1" / "stubDomains").unlink()
    (atomic / "..2026_1").rmdir()  # swapped away under a reader: it must read again, not report "no keys"
    with pytest.raises(FileNotFoundError):
        read_dir(str(atomic))
