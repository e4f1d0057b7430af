"""Flags, environment and /skydns/config as users of the Go skydns type them."""

import pytest

from skydns import config
from skydns_common import addr as addr_mod
from skydns_common import goflags

ENV = {"SKYDNS_NAMESERVERS": "127.0.0.1:5300"}


@pytest.mark.parametrize("argv,env,field,want", [
    (["-machines=http://127.0.0.1:4001"], ENV, "machines", ("http://127.0.0.1:4001",)),
    (["--machines", "http://a:1,http://b:2"], ENV, "machines", ("http://a:1", "http://b:2")),
    ([], {**ENV, "ETCD_MACHINES": "http://e:3"}, "machines", ("http://e:3",)),
    (["-addr", "127.0.0.1:53"], ENV, "dns_addr", "127.0.0.1:53"),
    (["-addr=[::1]:5353"], ENV, "dns_addr", "[::1]:5353"),
    ([], {**ENV, "SKYDNS_ADDR": "0.0.0.0:53"}, "dns_addr", "0.0.0.0:53"),
    (["-addr=1.2.3.4:53"], {**ENV, "SKYDNS_ADDR": "0.0.0.0:53"}, "dns_addr", "1.2.3.4:53"),
    (["-domain=cluster.local"], ENV, "domain", "cluster.local."),
    (["-domain", "Cluster.Local."], ENV, "domain", "cluster.local."),
    ([], {**ENV, "SKYDNS_DOMAIN": "x.y."}, "domain", "x.y."),
    ([], ENV, "domain", "skydns.local."),
    (["-no-rec"], ENV, "no_rec", True),
    (["-no-rec=false"], ENV, "no_rec", False),
    (["--round-robin=false"], ENV, "round_robin", False),
    (["-round-robin"], ENV, "round_robin", True),
    (["-rtimeout=500ms"], ENV, "read_timeout", 0.5),
    (["-rtimeout", "2s"], ENV, "read_timeout", 2.0),
    (["-ndots=3"], ENV, "ndots", 3),
    ([], {**ENV, "SKYDNS_NDOTS": "4"}, "ndots", 4),
    (["-path-prefix=/other/"], ENV, "path_prefix", "other"),
    ([], {**ENV, "SKYDNS_PATH_PREFIX": "p"}, "path_prefix", "p"),
    (["-nameservers=8.8.8.8:53,8.8.4.4:53"], {}, "nameservers", ("8.8.8.8:53", "8.8.4.4:53")),
    ([], ENV, "nameservers", ("127.0.0.1:5300",)),
    (["-etcd3"], ENV, "domain", "skydns.local."),
    (["-local", "a.b.skydns.local"], ENV, "local", "a.b.skydns.local."),
    (["-rcache=100", "-rcache-ttl=30"], ENV, "rcache", 100),
])
def test_flags(argv, env, field, want):
    assert getattr(config.from_args(argv, env), field) == want


@pytest.mark.parametrize("hostmaster,domain,want", [
    ("", "cluster.local.", "hostmaster.cluster.local."),
    ("hostmaster@skydns.test.", "skydns.test.", "hostmaster.skydns.test."),
    ("admin.example.org", "x.", "admin.example.org."),
])
def test_hostmaster(hostmaster, domain, want):
    argv = ["-domain", domain] + (["-hostmaster", hostmaster] if hostmaster else [])
    assert config.from_args(argv, ENV).soa_mbox == want


@pytest.mark.parametrize("raw,field,want", [
    ('{"domain":"skydns.test"}', "domain", "skydns.test."),
    ('{"ttl":60,"min_ttl":5}', "ttl", 60),
    ('{"ndot":3}', "ndots", 3),
    ('{"nameservers":["127.0.0.1:53"]}', "nameservers", ("127.0.0.1:53",)),
    ('{"read_timeout":"3s"}', "read_timeout", 3.0),
    ('{"read_timeout":1000000000}', "read_timeout", 1.0),
    ('{"no_rec":true,"unknown":1}', "no_rec", True),
    ('{"round_robin":false}', "round_robin", False),
])
def test_etcd_config_overrides_flags(raw, field, want):
    base = config.from_args(["-domain=flag.local.", "-ndots=1"], ENV)
    assert getattr(config.merge_etcd(base, raw), field) == want


@pytest.mark.parametrize("raw", ['{"ttl":"60"}', '{"no_rec":1}', '{"nameservers":"1.2.3.4"}', "[]", "nope"])
def test_etcd_config_rejects_wrong_types(raw):
    with pytest.raises(ValueError):
        config.merge_etcd(config.Config(), raw)


@pytest.mark.parametrize("argv,want", [
    (["-kube_master_url=http://x:8080"], ["--kube-master-url=http://x:8080"]),
    (["-addr", "127.0.0.1:53"], ["--addr", "127.0.0.1:53"]),
    (["--domain=a"], ["--domain=a"]),
    (["-v"], ["--v"]),
    (["-h"], ["-h"]),
    (["--", "-x"], ["--", "-x"]),
])
def test_goflags_normalise(argv, want):
    assert goflags.normalise(argv) == want


@pytest.mark.parametrize("text,seconds", [("2s", 2.0), ("500ms", 0.5), ("1m30s", 90.0), ("1.5", 1.5), ("1h", 3600.0)])
def test_duration(text, seconds):
    assert goflags.duration(text) == seconds


@pytest.mark.parametrize("addr,want", [
    ("127.0.0.1:53", ("127.0.0.1", 53)), ("[::1]:5353", ("::1", 5353)), (":53", ("0.0.0.0", 53)),
    ("::1", ("::1", 53)), ("localhost", ("localhost", 53)),
])
def test_split_hostport(addr, want):
    assert addr_mod.split_hostport(addr) == want
