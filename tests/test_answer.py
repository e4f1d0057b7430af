"""The answer rules as a table over an in-memory store: no etcd, no sockets.

One fixture (the records below), one list of cases, one loop.  A case is
(question, type, expected rcode, expected answer strings, expected
additional strings); records print as "name ttl TYPE data".
"""

import pytest

from skydns import answer as ans, dnsdata as dd, rrsets
from skydns.config import Config, normalise
from skydns.store import Store

NOW = 1_800_001_000.0  # serial truncates to the hour: 1800000000

RECORDS = {
    "/skydns/local/cluster/svc/default/web/1": '{"host":"10.0.0.1","ttl":30}',
    "/skydns/local/cluster/svc/default/web/2": '{"host":"10.0.0.2","ttl":20}',
    "/skydns/local/cluster/svc/default/web6/1": '{"host":"fd00::1"}',
    "/skydns/local/cluster/svc/default/alias": '{"host":"web.default.svc.cluster.local"}',
    "/skydns/local/cluster/svc/default/ext": '{"host":"example.org"}',
    "/skydns/local/cluster/svc/default/loop1": '{"host":"loop2.default.svc.cluster.local"}',
    "/skydns/local/cluster/svc/default/loop2": '{"host":"loop1.default.svc.cluster.local"}',
    "/skydns/local/cluster/svc/default/self": '{"host":"self.default.svc.cluster.local"}',
    "/skydns/local/cluster/svc/default/db/_tcp/_pg/a1": '{"host":"10.0.1.1","port":5432}',
    "/skydns/local/cluster/svc/default/db/_tcp/_pg/a2": '{"host":"10.0.1.2","port":5432,"weight":300}',
    "/skydns/local/cluster/svc/default/named/_tcp/_http/x": '{"host":"web.default.svc.cluster.local","port":80}',
    "/skydns/local/cluster/svc/default/strip/x": '{"host":"10.0.2.1","port":80,"targetstrip":1}',
    "/skydns/local/cluster/mx/a": '{"host":"mail.example.org","priority":5,"mail":true}',
    "/skydns/local/cluster/mx/b": '{"host":"10.0.3.1","mail":true}',
    "/skydns/local/cluster/mx2/a": '{"host":"10.9.9.9"}',
    "/skydns/local/cluster/txt/long": '{"text":"' + "x" * 300 + '"}',
    "/skydns/local/cluster/txt/short": '{"text":"hello"}',
    "/skydns/local/cluster/dns/ns/a": '{"host":"10.0.0.53"}',
    "/skydns/local/cluster/grp/a": '{"host":"127.0.0.1","group":"g1"}',
    "/skydns/local/cluster/grp/sub/b": '{"host":"127.0.0.2","group":"g2"}',
    "/skydns/local/cluster/grp/sub/c": '{"host":"127.0.0.3"}',
    "/skydns/local/cluster/dup/a": '{"host":"10.5.5.5"}',
    "/skydns/local/cluster/dup/b": '{"host":"10.5.5.5"}',
    "/skydns/local/cluster/node/1": '{"host":"10.7.7.7"}',
    "/skydns/local/cluster/node/1/child": '{"host":"10.7.7.8"}',
    "/skydns/local/cluster/bad": '{"host":5}',
    "/skydns/local/cluster/svc/default/hl/web-0": '{"host":"10.8.0.1"}',
    "/skydns/local/cluster/svc/default/hl/_tcp/_http/web-0": '{"host":"web-0.hl.default.svc.cluster.local.","port":80}',
    "/skydns/local/cluster/mixed/a": '{"host":"10.8.1.1"}',
    "/skydns/local/cluster/mixed/b": '{"host":"example.org"}',
    "/skydns/arpa/in-addr/10/0/0/1": '{"host":"web.default.svc.cluster.local."}',
    "/skydns/arpa/ip6/f/d/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/1":
        '{"host":"web6.default.svc.cluster.local."}',
    "/skydns/arpa/in-addr/10/1/0/5/a1": '{"host":"p.hl.default.svc.cluster.local.","ttl":30}',
    "/skydns/arpa/in-addr/10/1/0/5/b2": '{"host":"p.other.default.svc.cluster.local.","ttl":30}',
    "/skydns/local/cluster/srvdup/a": '{"host":"10.6.6.6","port":80}',
    "/skydns/local/cluster/srvdup/b": '{"host":"10.6.6.6","port":80}',
    "/skydns/local/cluster/srvdup/c": '{"host":"10.6.6.7","port":80}',
    "/skydns/local/cluster/srvtxt/a": '{"host":"10.6.7.1","port":80}',
    "/skydns/local/cluster/srvtxt/t": '{"text":"only text"}',
    "/skydns/config": '{"domain":"ignored.example."}',
}

CFG = normalise(Config(domain="cluster.local.", local="web.default.svc.cluster.local.", hostname="testhost"))


@pytest.fixture(scope="module")
def store():
    s = Store("skydns")
    errors = s.replace([(k, v.encode()) for k, v in RECORDS.items()], 7)
    assert [k for k, _ in errors] == ["/skydns/local/cluster/bad"]
    return s


def show(rr):
    d = rr.data
    if isinstance(d, tuple):
        d = " ".join(str(x) for x in d)
    return f"{rr.name} {rr.ttl} {ans_type(rr.type)} {d}"


def ans_type(t):
    return {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV"}[t]


SOA_NEG = "cluster.local. 60 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1800000000 28800 7200 604800 60"
D = ".default.svc.cluster.local."

# (name, qtype, rcode, answer, additional[, authority])
CASES = [
    ("web" + D, "A", "NOERROR", ["web" + D + " 20 A 10.0.0.1", "web" + D + " 20 A 10.0.0.2"], []),
    ("WEB.Default.svc.cluster.local.", "A", "NOERROR",
     ["WEB.Default.svc.cluster.local. 20 A 10.0.0.1", "WEB.Default.svc.cluster.local. 20 A 10.0.0.2"], []),
    ("web" + D, "AAAA", "NOERROR", [], [], [SOA_NEG]),
    ("web6" + D, "AAAA", "NOERROR", ["web6" + D + " 3600 AAAA fd00::1"], []),
    ("alias" + D, "A", "NOERROR",
     ["alias" + D + " 20 CNAME web.default.svc.cluster.local.",
      "web.default.svc.cluster.local. 20 A 10.0.0.1", "web.default.svc.cluster.local. 20 A 10.0.0.2"], []),
    ("alias" + D, "CNAME", "NOERROR", ["alias" + D + " 3600 CNAME web.default.svc.cluster.local."], []),
    ("web" + D, "CNAME", "NOERROR", [], [], [SOA_NEG]),
    ("loop1" + D, "A", "NOERROR", [], [], [SOA_NEG]),
    ("self" + D, "A", "NOERROR", [], [], [SOA_NEG]),
    ("nothere" + D, "A", "NXDOMAIN", [], [], [SOA_NEG]),
    ("we" + D, "A", "NXDOMAIN", [], [], [SOA_NEG]),
    ("bad.cluster.local.", "A", "NXDOMAIN", [], [], [SOA_NEG]),
    ("_pg._tcp.db" + D, "SRV", "NOERROR",
     ["_pg._tcp.db" + D + " 3600 SRV 10 25 5432 a1._pg._tcp.db" + D,
      "_pg._tcp.db" + D + " 3600 SRV 10 75 5432 a2._pg._tcp.db" + D],
     ["a1._pg._tcp.db" + D + " 3600 A 10.0.1.1", "a2._pg._tcp.db" + D + " 3600 A 10.0.1.2"]),
    ("_http._tcp.named" + D, "SRV", "NOERROR",
     ["_http._tcp.named" + D + " 3600 SRV 10 100 80 web.default.svc.cluster.local."],
     ["web.default.svc.cluster.local. 30 A 10.0.0.1", "web.default.svc.cluster.local. 20 A 10.0.0.2"]),
    ("strip" + D, "SRV", "NOERROR", ["strip" + D + " 3600 SRV 10 100 80 strip" + D],
     ["strip" + D + " 3600 A 10.0.2.1"]),
    ("*._tcp.db" + D, "SRV", "NOERROR",
     ["*._tcp.db" + D + " 3600 SRV 10 25 5432 a1._pg._tcp.db" + D,
      "*._tcp.db" + D + " 3600 SRV 10 75 5432 a2._pg._tcp.db" + D],
     ["a1._pg._tcp.db" + D + " 3600 A 10.0.1.1", "a2._pg._tcp.db" + D + " 3600 A 10.0.1.2"]),
    ("mx.cluster.local.", "MX", "NOERROR",
     ["mx.cluster.local. 3600 MX 5 mail.example.org.", "mx.cluster.local. 3600 MX 10 b.mx.cluster.local."],
     ["b.mx.cluster.local. 3600 A 10.0.3.1"]),
    ("mx2.cluster.local.", "MX", "NOERROR", [], [], [SOA_NEG]),
    ("short.txt.cluster.local.", "TXT", "NOERROR", ["short.txt.cluster.local. 3600 TXT hello"], []),
    ("long.txt.cluster.local.", "TXT", "NOERROR", ["long.txt.cluster.local. 3600 TXT " + "x" * 255 + " " + "x" * 45], []),
    ("cluster.local.", "NS", "NOERROR", ["cluster.local. 3600 NS a.ns.dns.cluster.local."],
     ["a.ns.dns.cluster.local. 3600 A 10.0.0.53"]),
    ("Cluster.Local.", "SOA", "NOERROR",
     ["Cluster.Local. 3600 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1800000000 28800 7200 604800 60"], []),
    ("grp.cluster.local.", "A", "NOERROR",
     ["grp.cluster.local. 3600 A 127.0.0.1", "grp.cluster.local. 3600 A 127.0.0.3"], []),
    ("sub.grp.cluster.local.", "A", "NOERROR",
     ["sub.grp.cluster.local. 3600 A 127.0.0.2", "sub.grp.cluster.local. 3600 A 127.0.0.3"], []),
    ("dup.cluster.local.", "A", "NOERROR", ["dup.cluster.local. 3600 A 10.5.5.5"], []),
    ("1.node.cluster.local.", "A", "NOERROR",
     ["1.node.cluster.local. 3600 A 10.7.7.7", "1.node.cluster.local. 3600 A 10.7.7.8"], []),
    ("local.dns.cluster.local.", "A", "NOERROR",
     ["local.dns.cluster.local. 20 A 10.0.0.1", "local.dns.cluster.local. 20 A 10.0.0.2"], []),
    ("1.0.0.10.in-addr.arpa.", "PTR", "NOERROR", ["1.0.0.10.in-addr.arpa. 3600 PTR web.default.svc.cluster.local."], []),
    ("web" + D, "HINFO", "NOERROR", [], [], [SOA_NEG]),
    # a headless service: its A records, not CNAMEs to the names its SRV leaves hold
    ("hl" + D, "A", "NOERROR", ["hl" + D + " 3600 A 10.8.0.1"], []),
    ("_http._tcp.hl" + D, "SRV", "NOERROR", ["_http._tcp.hl" + D + " 3600 SRV 10 100 80 web-0.hl" + D],
     ["web-0.hl" + D + " 3600 A 10.8.0.1"]),
    ("mixed.cluster.local.", "A", "NOERROR", ["mixed.cluster.local. 3600 A 10.8.1.1"], []),
    ("nothere.cluster.local.", "HINFO", "NXDOMAIN", [], [], [SOA_NEG]),
    ("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", "PTR", "NOERROR",
     ["1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 3600 PTR web6" + D], []),
    # an address behind two headless services: a PTR for each (leaves below the reversed name)
    ("5.0.1.10.in-addr.arpa.", "PTR", "NOERROR", ["5.0.1.10.in-addr.arpa. 30 PTR p.hl" + D,
                                                 "5.0.1.10.in-addr.arpa. 30 PTR p.other" + D], []),
    # identical leaves count once, then the 100 is split among what is left
    ("srvdup.cluster.local.", "SRV", "NOERROR",
     ["srvdup.cluster.local. 3600 SRV 10 50 80 a.srvdup.cluster.local.",
      "srvdup.cluster.local. 3600 SRV 10 50 80 c.srvdup.cluster.local."],
     ["a.srvdup.cluster.local. 3600 A 10.6.6.6", "c.srvdup.cluster.local. 3600 A 10.6.6.7"]),
    # a text-only leaf gives no SRV (no target "."), nor a share of the weight
    ("short.txt.cluster.local.", "SRV", "NOERROR", [], [], [SOA_NEG]),
    ("srvtxt.cluster.local.", "SRV", "NOERROR", ["srvtxt.cluster.local. 3600 SRV 10 100 80 a.srvtxt.cluster.local."],
     ["a.srvtxt.cluster.local. 3600 A 10.6.7.1"]),
]

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "HINFO": 13, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33}


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_answer(store, case):
    name, qtype, rcode, answer, additional, *authority = case
    r = ans.answer(dd.Question(name, TYPES[qtype]), store, CFG, NOW)
    assert {0: "NOERROR", 3: "NXDOMAIN"}[r.rcode] == rcode
    assert sorted(show(rr) for rr in r.answer) == sorted(answer)
    assert sorted(show(rr) for rr in r.additional) == sorted(additional)
    assert [show(rr) for rr in r.authority] == (authority[0] if authority else [])
    assert not r.needs and not r.forward


# questions that leave the zone: (name, qtype, forward?, needs)
OUTSIDE = [
    ("example.org.", "A", True, set()),
    ("2.0.0.10.in-addr.arpa.", "PTR", True, set()),
    # a subnet's reverse name is not the PTRs of every address in it
    ("0.0.10.in-addr.arpa.", "PTR", True, set()),
    ("1.10.in-addr.arpa.", "PTR", True, set()),
    ("10.in-addr.arpa.", "PTR", True, set()),
    ("0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", "PTR", True, set()),
    ("ext" + D, "A", False, {("example.org.", 1)}),
]


@pytest.mark.parametrize("name,qtype,forward,needs", OUTSIDE)
def test_outside_the_zone(store, name, qtype, forward, needs):
    r = ans.answer(dd.Question(name, TYPES[qtype]), store, CFG, NOW)
    assert r.forward is forward
    assert r.needs == needs


def test_cname_completed_by_external_answer(store):
    ext = {("example.org.", 1): [dd.RR("example.org.", 1, 300, "93.184.216.34")]}
    r = ans.answer(dd.Question("ext" + D, 1), store, CFG, NOW, ext)
    assert [show(rr) for rr in r.answer] == ["ext" + D + " 300 CNAME example.org.", "example.org. 300 A 93.184.216.34"]


def test_cname_dropped_when_external_lookup_failed(store):
    r = ans.answer(dd.Question("ext" + D, 1), store, CFG, NOW, {("example.org.", 1): []})
    assert r.answer == [] and [show(rr) for rr in r.authority] == [SOA_NEG]


@pytest.mark.parametrize("qname,qtype,qclass,rcode,texts", [
    ("version.bind.", 16, 3, 0, None),
    ("hostname.bind.", 16, 3, 0, ["testhost"]),
    ("id.server.", 16, 3, 0, ["testhost"]),
    ("whatever.bind.", 16, 3, 2, []),
    ("version.bind.", 1, 3, 2, []),
    ("web" + D, 255, 1, 5, []),
    ("web" + D, 1, 4, 5, []),
])
def test_special_questions(store, qname, qtype, qclass, rcode, texts):
    r = ans.answer(dd.Question(qname, qtype, qclass), store, CFG, NOW)
    assert r.rcode == rcode
    if texts is not None:
        assert [t for rr in r.answer for t in rr.data] == texts
    elif rcode == 0:
        assert r.answer and r.answer[0].data[0].startswith("skydns ")


def test_not_synced_is_servfail_never_nxdomain():
    r = ans.answer(dd.Question("web" + D, 1), Store(), CFG, NOW)
    assert r.rcode == dd.SERVFAIL


# (value, seconds left on the key's lease or None, the answer's TTL): spec §5
LEASE_TTLS = [
    (b'{"host":"10.1.1.1","ttl":300}', 42.5, 42),   # both: the smaller
    (b'{"host":"10.1.1.1","ttl":30}', 600.5, 30),
    (b'{"host":"10.1.1.1"}', 7200.5, 7200),         # no ttl: the lease's time, even above the configured 3600
    (b'{"host":"10.1.1.1"}', 42.5, 42),
    (b'{"host":"10.1.1.1"}', None, 3600),           # neither: the configured ttl
    (b'{"host":"10.1.1.1","ttl":300}', None, 300),
]


@pytest.mark.parametrize("value,left,ttl", LEASE_TTLS)
def test_lease_ttl(value, left, ttl):
    s = Store()
    s.replace([("/skydns/local/cluster/l/a", value)], 2)
    if left is not None:
        s.set_expiry("/skydns/local/cluster/l/a", NOW + left)
    r = ans.answer(dd.Question("l.cluster.local.", 1), s, CFG, NOW)
    assert [rr.ttl for rr in r.answer] == [ttl]


def test_cname_chain_limit():
    s = Store()
    kvs = [(f"/skydns/local/cluster/c/{i}", f'{{"host":"{i + 1}.c.cluster.local"}}'.encode()) for i in range(12)]
    kvs.append(("/skydns/local/cluster/c/12", b'{"host":"10.0.0.12"}'))
    s.replace(kvs, 2)
    near = ans.answer(dd.Question("4.c.cluster.local.", 1), s, CFG, NOW)
    assert [rr.type for rr in near.answer] == [5] * 8 + [1]
    far = ans.answer(dd.Question("0.c.cluster.local.", 1), s, CFG, NOW)
    assert far.answer == []


@pytest.mark.parametrize("name,types", [
    ("web.default.svc.cluster.local.", {dd.A, dd.SRV}),       # SRV for any host, port 0 included
    ("web6.default.svc.cluster.local.", {dd.AAAA, dd.SRV}),
    ("alias.default.svc.cluster.local.", {dd.CNAME, dd.SRV}),
    ("mx.cluster.local.", {dd.A, dd.MX, dd.SRV}),            # addresses there: no CNAME
    ("txt.cluster.local.", {dd.TXT}),
    ("nothere.cluster.local.", set()),
])
def test_types_at(store, name, types):
    assert rrsets.types_at(store, name) == types


@pytest.mark.parametrize("now,serial,next_at", [
    (NOW, 1_800_000_000, 1_800_003_600),
    (3599.9, 0, 3600),
    (3600, 3600, 7200),
])
def test_soa_serial_is_the_hour(now, serial, next_at):
    assert rrsets.serial(now) == serial and rrsets.next_serial_at(now) == next_at
    assert rrsets.soa(CFG, now, "cluster.local.", 60).data[2] == serial
