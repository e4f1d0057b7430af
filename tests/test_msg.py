"""Tables for the shared record module (spec sections 1-3)."""

import socket

import pytest
from hypothesis import given, strategies as st

from skydns_common import msg

V = msg.Service


@pytest.mark.parametrize("host,label", [
    ("10.0.0.1", "c88f1059"),
    ("11.1.1.1", "2f15de08"),
    ("10.0.183.39", "e3b7df90"),
])
def test_hash_label_of_clusterip_value(host, label):
    value = msg.dumps(V(host=host, priority=10, weight=10, ttl=30), kube2sky=True)
    assert msg.hash_label(value) == label


@pytest.mark.parametrize("data,want", [
    (b"", 0x811C9DC5),
    (b"a", 0xE40C292C),
    (b"foobar", 0xBF9CF968),
])
def test_fnv1a32_reference_vectors(data, want):
    assert msg.fnv1a32(data) == want


def test_hash_label_has_no_zero_padding():
    # find a value whose hash is below 0x10000000 and check its label is short
    for i in range(100000):
        v = msg.dumps(V(host=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", priority=10, weight=10, ttl=30), kube2sky=True)
        h = msg.fnv1a32(v.encode())
        if h < 0x10000000:
            assert msg.hash_label(v) == format(h, "x") and len(msg.hash_label(v)) < 8
            return
    pytest.fail("no small hash found")


@pytest.mark.parametrize("svc,kube2sky,want", [
    (V(host="10.254.7.160", priority=10, weight=10, ttl=30), True,
     '{"host":"10.254.7.160","priority":10,"weight":10,"ttl":30,"targetstrip":0}'),
    (V(host="redis-master.default.svc.cluster.local.", port=6379, priority=10, weight=10, ttl=30), True,
     '{"host":"redis-master.default.svc.cluster.local.","port":6379,"priority":10,"weight":10,"ttl":30,"targetstrip":0}'),
    (V(host="10.254.7.160", priority=10, weight=10, ttl=30), False,
     '{"host":"10.254.7.160","priority":10,"weight":10,"ttl":30}'),
    (V(host="h", targetstrip=2), False, '{"host":"h","targetstrip":2}'),
    (V(text="a<b>&c"), False, '{"text":"a\\u003cb\\u003e\\u0026c"}'),
    (V(host="mx.example.", priority=50, mail=True), False, '{"host":"mx.example.","priority":50,"mail":true}'),
    (V(host="x", group="g1"), False, '{"host":"x","group":"g1"}'),
    (V(), True, '{"targetstrip":0}'),
    (V(), False, '{}'),
    (V(host="ü"), False, '{"host":"ü"}'),
])
def test_dumps(svc, kube2sky, want):
    assert msg.dumps(svc, kube2sky=kube2sky) == want
    assert msg.parse(want) == svc


@pytest.mark.parametrize("raw,want", [
    ('{"host":"10.0.0.1"}', V(host="10.0.0.1")),
    ('{"host":"10.0.0.1","unknown":[1,2],"port":80}', V(host="10.0.0.1", port=80)),
    ('{"host":null,"port":null}', V()),
    ('{"text":"abc","ttl":360,"mail":false}', V(text="abc", ttl=360)),
    ('  {"host" : "a" }  ', V(host="a")),
])
def test_parse_lenient(raw, want):
    assert msg.parse(raw) == want


@pytest.mark.parametrize("raw,needle", [
    ("not json", "not JSON"),
    ("[1]", "not an object"),
    ('"x"', "not an object"),
    ('{"port":"80"}', "'port' must be an integer"),
    ('{"port":80.5}', "'port' must be an integer"),
    ('{"port":true}', "'port' must be an integer"),
    ('{"port":70000}', "'port' must be in 0..65535"),
    ('{"ttl":-1}', "'ttl' must be in"),
    ('{"host":5}', "'host' must be a string"),
    ('{"mail":"yes"}', "'mail' must be true or false"),
    (b"\xff\xfe", "not JSON"),
])
def test_parse_rejects_wrong_types(raw, needle):
    with pytest.raises(msg.RecordError, match=needle.replace("(", r"\(").replace(".", r"\.")):
        msg.parse(raw)


@pytest.mark.parametrize("name,prefix,key", [
    ("redis-master.default.svc.cluster.local.", "skydns", "/skydns/local/cluster/svc/default/redis-master"),
    ("Redis-Master.Default.SVC.cluster.local", "skydns", "/skydns/local/cluster/svc/default/redis-master"),
    ("1.0.0.10.in-addr.arpa.", "skydns", "/skydns/arpa/in-addr/10/0/0/1"),
    ("a.b.", "/other/", "/other/b/a"),
    ("a.b.", "deep/prefix", "/deep/prefix/b/a"),
    (".", "skydns", "/skydns"),
])
def test_key_of(name, prefix, key):
    assert msg.key_of(name, prefix) == key


@pytest.mark.parametrize("key,prefix,name", [
    ("/skydns/local/cluster/svc/default/redis-master", "skydns", "redis-master.default.svc.cluster.local."),
    ("/skydns/local/cluster/SVC/default/x", "skydns", "x.default.svc.cluster.local."),
    ("/deep/prefix/b/a", "deep/prefix", "a.b."),
])
def test_name_of(key, prefix, name):
    assert msg.name_of(key, prefix) == name


@pytest.mark.parametrize("key,prefix", [
    ("/skydnsx/a", "skydns"),
    ("/other/a", "skydns"),
    ("/skydns/a//b", "skydns"),
])
def test_name_of_rejects(key, prefix):
    with pytest.raises(msg.RecordError):
        msg.name_of(key, prefix)


@pytest.mark.parametrize("name", ["a..b.", "a/b.example."])
def test_key_of_rejects(name):
    with pytest.raises(msg.RecordError):
        msg.key_of(name)


@pytest.mark.parametrize("question,key,want", [
    ("mx.skydns.test.", "/skydns/test/skydns/mx/a", True),
    ("mx.skydns.test.", "/skydns/test/skydns/mx2/a", False),
    ("mx.skydns.test.", "/skydns/test/skydns/mx", True),
    ("*.region1.skydns.test.", "/skydns/test/skydns/region1/development/server1/100", True),
    ("*.region1.skydns.test.", "/skydns/test/skydns/region1", False),
    ("any.region1.skydns.test.", "/skydns/test/skydns/region1/production", True),
    ("server1.*.region1.skydns.test.", "/skydns/test/skydns/region1/development/server1/100", True),
    ("server1.*.region1.skydns.test.", "/skydns/test/skydns/region1/development/server2/100", False),
    ("*.*.skydns.test.", "/skydns/test/skydns/region1/x", True),
    ("x.region1.skydns.test.", "/skydns/test/skydns/region1/xy", False),
])
def test_matches(question, key, want):
    q = list(reversed(msg.labels(question)))
    assert msg.matches(q, msg.key_labels(key, "skydns")) is want


@pytest.mark.parametrize("name,n,want", [
    ("x.bar.skydns.test.", 1, "bar.skydns.test."),
    ("x.bar.skydns.test.", 0, "x.bar.skydns.test."),
    ("x.bar.", 5, "x.bar."),
])
def test_target_strip(name, n, want):
    assert msg.target_strip(name, n) == want


@pytest.mark.parametrize("name,domain,want", [
    ("a.cluster.local.", "cluster.local.", True),
    ("cluster.local.", "cluster.local", True),
    ("A.Cluster.Local", "cluster.local.", True),
    ("acluster.local.", "cluster.local.", False),
    ("example.org.", "cluster.local.", False),
])
def test_in_domain(name, domain, want):
    assert msg.in_domain(name, domain) is want


LABEL = st.from_regex(r"\A[a-z0-9_]([a-z0-9_-]{0,20}[a-z0-9_])?\Z")


@given(st.lists(LABEL, min_size=1, max_size=8), st.sampled_from(["skydns", "a/b", "/x/"]))
def test_name_key_round_trip(parts, prefix):
    name = ".".join(parts) + "."
    key = msg.key_of(name, prefix)
    assert msg.name_of(key, prefix) == name
    assert msg.key_of(name.upper(), prefix) == key


@given(st.builds(V, host=st.text(max_size=30), port=st.integers(0, 65535),
                 priority=st.integers(0, 65535), weight=st.integers(0, 65535),
                 text=st.text(max_size=30), mail=st.booleans(), ttl=st.integers(0, 2**32 - 1),
                 targetstrip=st.integers(0, 255), group=st.text(max_size=10)),
       st.booleans())
def test_value_round_trip(svc, kube2sky):
    assert msg.parse(msg.dumps(svc, kube2sky=kube2sky)) == svc


@given(st.text(alphabet="abcdefxyz0123456789.:-_", max_size=40), st.integers(0, 99999),
       st.sampled_from(["HP" + msg._KUBE2SKY_TAIL, "HP" + msg._KUBE2SKY_TAIL + " ", "PH" + msg._KUBE2SKY_TAIL,
                        'HP"priority":10,"weight":10,"ttl":30,"targetstrip":1}']))
def test_kube2sky_values_read_without_the_decoder_as_with_it(host, port, shape):
    """parse reads kube2sky's own form with a pattern (start-up's cost per
    key); whatever the bytes, it gives what the JSON decoder gives."""
    raw = ("{" + shape.replace("H", f'"host":"{host}",' if host else "", 1)
           .replace("P", f'"port":{port},' if port else "", 1)).encode()
    try:
        want = msg.parse_json(raw)
    except msg.RecordError as exc:
        with pytest.raises(msg.RecordError) as got:
            msg.parse(raw)
        assert str(got.value) == str(exc)
        return
    assert msg.parse(raw) == want
    service, written = msg.parse_written(raw)
    if written:  # not kept by the mirror: it must be written again byte for byte
        assert msg.kube2sky_value(service.host, service.port).encode() == raw


def test_kube2sky_values_are_read_by_the_pattern():
    for host, port in (("10.0.0.1", 0), ("web.default.svc.cluster.local", 80), ("fd00::1", 53)):
        raw = msg.kube2sky_value(host, port).encode()
        assert msg._kube2sky_service(raw) == msg.parse_json(raw) == V(host=host, port=port, priority=10, weight=10,
                                                                        ttl=30)
    assert msg._kube2sky_service(b'{"host":"a\\u0041",' + msg._KUBE2SKY_TAIL.encode()) is None  # escaped: the decoder
    assert msg._kube2sky_service(msg.kube2sky_value("").encode()) is None  # no host: the decoder


# -- is this an IP: msg.address is the one test, pure, and agrees with inet_pton/inet_ntop

def _inet(host):
    """The socket module's answer, which msg.address must give without it."""
    try:
        if ":" in host:
            return 6, socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, host))
        socket.inet_pton(socket.AF_INET, host)
        return 4, host
    except (OSError, ValueError):
        return None


@pytest.mark.parametrize("host,want", [
    ("10.0.0.1", (4, "10.0.0.1")),
    ("0.0.0.0", (4, "0.0.0.0")),
    ("255.255.255.255", (4, "255.255.255.255")),
    ("256.0.0.1", None),
    ("01.2.3.4", None),              # leading zero: Go and inet_pton refuse it
    ("1.2.3", None),
    ("1.2.3.4\n", None),
    ("\uff11.2.3.4", None),          # a full-width digit is not a digit here
    ("redis.default.svc.cluster.local.", None),
    ("", None),
    ("FD00:0:0:0::1", (6, "fd00::1")),
    ("::ffff:10.0.0.1", (6, "::ffff:10.0.0.1")),  # mapped: dotted tail, as inet_ntop writes it
    ("::10.0.0.1", (6, "::10.0.0.1")),
    ("1:0:2:3:4:5:6:7", (6, "1:0:2:3:4:5:6:7")),  # one zero group is not shortened
    ("fe80::1%eth0", None),          # a zone is not an address
    ("1::2:3:4:5:6:7:8", None),
])
def test_address(host, want):
    assert msg.address(host) == want == _inet(host)


@given(st.one_of(st.text(alphabet="0123456789abcdefABCDEF:.%x ", max_size=45), st.ip_addresses().map(str),
                 st.ip_addresses(v=6).map(lambda a: a.exploded)))
def test_address_agrees_with_inet_pton(host):
    assert msg.address(host) == _inet(host)


# -- the kube2sky value: one template for the fast formatter and the legacy-value test

@pytest.mark.parametrize("value,is_address", [
    (msg.kube2sky_value("10.0.0.1"), True),
    (msg.kube2sky_value("fd00::1"), True),
    (msg.kube2sky_value("10.0.0.1", 80), False),
    (msg.kube2sky_value("web.default.svc.cluster.local."), False),
    ('{"host":"10.0.0.1"}', False),
    (msg.dumps(V(host="10.0.0.1", priority=10, weight=10, ttl=30)), False),   # no targetstrip: not kube2sky's
    (msg.kube2sky_value("10.0.0.1") + "\n", False),
])
def test_is_kube2sky_address(value, is_address):
    assert msg.is_kube2sky_address(value) is is_address
