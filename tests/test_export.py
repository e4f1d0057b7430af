"""skydnsctl's hosts and zone exports, in process: they are what the
server's answer logic says, record for record, and never a rule of their own.

One fixture (a tree of kube2sky's and custom records), one list of cases
(zone lines that must or must not be there), one loop; and a check that
every line of the zone is a record the server answers for its name.
"""

import pytest

from skydns.answer import answer
from skydns.config import Config, normalise
from skydns.dnsdata import A, CNAME, Question
from skydns.store import Store
from skydnsctl import export, records

NOW = 1_800_001_000.0
D = "/skydns/local/cluster"
K2S = '"priority":10,"weight":10,"ttl":30,"targetstrip":0}'
TREE = {
    f"{D}/svc/default/redis/c88f1059": '{"host":"10.0.0.1",' + K2S,
    f"{D}/svc/default/redis/_tcp/_redis/c88f1059": '{"host":"redis.default.svc.cluster.local.","port":6379,' + K2S,
    f"{D}/svc/default/ext/5e80c3c5": '{"host":"example.org.",' + K2S,
    f"{D}/svc/default/hl/web-0": '{"host":"10.8.0.1",' + K2S,
    f"{D}/svc/default/hl/web-1": '{"host":"10.8.0.2",' + K2S,
    f"{D}/hadoop/nn1": '{"host":"10.1.1.1"}',
    f"{D}/v6/h": '{"host":"fd00::1"}',
    f"{D}/dns/ns/a": '{"host":"10.0.0.53"}',
    f"{D}/txt/t": '{"text":"hi \\"there\\""}',
    f"{D}/mail/m": '{"host":"10.2.0.1","mail":true,"priority":5}',
    f"{D}/grp/a": '{"host":"10.3.0.1","group":"g1"}',
    f"{D}/grp/b": '{"host":"10.3.0.2","group":"g2"}',
    "/skydns/arpa/in-addr/10/0/0/1": '{"host":"redis.default.svc.cluster.local."}',
    "/skydns/config": '{"ttl":3600}',
}
CFG = normalise(Config(domain="cluster.local.", nameservers=()))


@pytest.fixture(scope="module")
def exported():
    tree = {k: v.encode() for k, v in TREE.items()}
    store = Store("skydns")
    store.replace(tree.items(), 1)
    rows, bad = records.rows(tree, "skydns", CFG.ttl)
    assert bad == []
    names = [r.name for r in rows]
    return store, export.zone(store, names, CFG, NOW), export.hosts(store, names, CFG, NOW)


# (zone line, whether it is there)
ZONE = [
    ("@\t3600\tIN\tSOA\tns.dns.cluster.local. hostmaster.cluster.local. 1800000000 28800 7200 604800 60", True),
    ("@\t3600\tIN\tNS\ta.ns.dns.cluster.local.", True),
    ("a.ns.dns\t3600\tIN\tA\t10.0.0.53", True),
    ("redis.default.svc\t30\tIN\tA\t10.0.0.1", True),
    ("_redis._tcp.redis.default.svc\t30\tIN\tSRV\t10 100 6379 redis.default.svc.cluster.local.", True),
    ("redis.default.svc\t30\tIN\tSRV\t10 50 0 c88f1059.redis.default.svc.cluster.local.", True),  # the server's SRV
    ("c88f1059.redis.default.svc\t30\tIN\tA\t10.0.0.1", True),             # its target's glue
    ("ext.default.svc\t30\tIN\tCNAME\texample.org.", True),                # ExternalName: a CNAME out of the zone
    ("web-0.hl.default.svc\t30\tIN\tA\t10.8.0.1", True),                   # a named endpoint is its own name
    ("nn1.hadoop\t3600\tIN\tA\t10.1.1.1", True),
    ("h.v6\t3600\tIN\tAAAA\tfd00::1", True),
    ('t.txt\t3600\tIN\tTXT\t"hi \\"there\\""', True),
    ("t.txt\t3600\tIN\tSRV\t10 100 0 .", False),                           # no host: no SRV in the zone
    ("m.mail\t3600\tIN\tMX\t5 m.mail.cluster.local.", True),
    ("m.mail\t3600\tIN\tSRV\t5 100 0 m.mail.cluster.local.", True),       # priority 5 for SRV too
    ("a.grp\t3600\tIN\tA\t10.3.0.1", True),
    ("1.0.0.10.in-addr.arpa.\t3600\tIN\tPTR\tredis.default.svc.cluster.local.", False),  # outside the zone
]


@pytest.mark.parametrize("line,present", ZONE)
def test_zone(exported, line, present):
    _, zone, _ = exported
    assert (line in zone.splitlines()) is present, zone


def test_every_zone_record_is_the_servers_answer(exported):
    """Ask the server each line's own question: the line is in its answer
    (a CNAME comes with the A question, its outside target resolving)."""
    store, zone, _ = exported
    lines = zone.splitlines()
    assert lines[0] == "$ORIGIN cluster.local." and len(lines) > 20
    types = {name: t for t, name in export._TYPE_NAMES.items()}
    for line in lines[1:]:
        owner, ttl, _, rtype, data = line.split("\t")
        name = "cluster.local." if owner == "@" else owner + ".cluster.local."
        qtype = types[rtype]
        outside = {(data.lower(), A): [export.RR(data, A, 60, "192.0.2.1")]} if qtype == CNAME else {}
        reply = answer(Question(name, A if qtype == CNAME else qtype), store, CFG, NOW, outside)
        assert (int(ttl), qtype, data) in {(rr.ttl, rr.type, export._rdata(rr)) for rr in reply.answer
                                           if rr.name.lower() == name}, line


def test_hosts(exported):
    _, _, hosts = exported
    assert hosts.splitlines() == [
        "10.0.0.1\tredis.default.svc.cluster.local",
        "10.0.0.53\ta.ns.dns.cluster.local", "10.1.1.1\tnn1.hadoop.cluster.local", "10.2.0.1\tm.mail.cluster.local",
        "10.3.0.1\ta.grp.cluster.local", "10.3.0.2\tb.grp.cluster.local",
        "10.8.0.1\tweb-0.hl.default.svc.cluster.local", "10.8.0.2\tweb-1.hl.default.svc.cluster.local",
        "fd00::1\th.v6.cluster.local"]
