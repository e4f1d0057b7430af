"""kube2sky's controller in-process: events in, changes out.

A fake writer stands in for etcd (a dict, and the list of changes it was
asked to write), a fake election for the lease.  Each case starts from what
etcd holds, feeds batches of events (``LEAD``/``LOSE`` are the election's,
``elsewhere(...)`` another replica writing to etcd),
syncs after each batch, and compares every change written, in order, and
the readiness at the end.
"""

import pytest

from kube2sky import records
from kube2sky.controller import Controller
from kube2sky.owned import owned
from tests.k8sobj import endpoints, pod, service

OPT = records.Options()
V = records.value
D = "/skydns/local/cluster"
META = {f"{D}/dns-version": '{"text":"1.0.0"}'}
REDIS = {f"{D}/svc/default/redis/c88f1059": V("10.0.0.1"),
         "/skydns/arpa/in-addr/10/0/0/1": '{"host":"redis.default.svc.cluster.local.","ttl":30}'}
REDIS2 = {f"{D}/svc/default/redis/4e756cde": V("10.0.0.2"),
          "/skydns/arpa/in-addr/10/0/0/2": '{"host":"redis.default.svc.cluster.local.","ttl":30}'}
POD1 = {f"{D}/pod/default/10-1-0-1/1aa841b0": V("10.1.0.1")}
POD2 = {f"{D}/pod/default/10-1-0-2/1b985e67": V("10.1.0.2")}
HEADLESS = {f"{D}/svc/default/hl/ae4f4e47": V("10.2.0.1"), f"{D}/svc/default/hl/e32ad090": V("10.2.0.2"),
            "/skydns/arpa/in-addr/10/2/0/1/c900477f": '{"host":"ae4f4e47.hl.default.svc.cluster.local.","ttl":30}',
            "/skydns/arpa/in-addr/10/2/0/2/c900477f": '{"host":"e32ad090.hl.default.svc.cluster.local.","ttl":30}'}
CUSTOM = {f"{D}/custom/x": '{"host":"10.9.9.9"}'}

LEAD, LOSE = "lead", "lose"


def elsewhere(puts):
    """Another replica (the leader) writes these records to etcd."""
    return ("etcd", puts)


def listing(services=(), eps=(), pods=()):
    return [("services", "LIST", list(services)), ("endpoints", "LIST", list(eps)), ("pods", "LIST", list(pods))]


def subsets(*ips):
    return [{"addresses": [{"ip": ip} for ip in ips]}]


def written(unit, puts=(), deletes=()):
    return (unit, dict(puts), sorted(deletes))


class FakeWriter:
    def __init__(self, etcd):
        self.etcd = {k: v.encode() for k, v in etcd.items()}
        self.written = []
        self.healthy = True
        self.guard = None

    def lead(self, key, ident):
        self.guard = (key, ident)

    async def load(self):
        return owned(self.etcd.items(), OPT)

    async def apply(self, changes):
        for c in changes:
            self.written.append((str(c.unit), dict(c.puts), list(c.deletes)))
            for k in c.deletes:
                del self.etcd[k]
            self.etcd.update((k, v.encode()) for k, v in c.puts.items())


class FakeElection:
    key, ident = b"/kube2sky/leader/skydns", b"me"
    connected, following = True, False


# (what, etcd before, batches of events, changes written, ready at the end)
CASES = [
    ("first sync writes every unit, in order", {},
     [[LEAD, *listing([service("redis", "10.0.0.1")], [], [pod("a", "10.1.0.1")])]],
     [written("meta", META), written("pod/default/10-1-0-1", POD1), written("svc/default/redis", REDIS)], True),
    ("nothing is written before every kind is listed", {},
     [[LEAD, ("services", "LIST", [service("redis", "10.0.0.1")]), ("pods", "LIST", [])]],
     [], False),
    ("nothing is written while following", {},
     [listing([service("redis", "10.0.0.1")])],
     [], False),
    ("records already right: nothing written", {**META, **REDIS},
     [[LEAD, *listing([service("redis", "10.0.0.1")])]],
     [], True),
    ("a restart deletes the records of services deleted while down, never others' keys",
     {**META, **REDIS, **POD1, **CUSTOM},
     [[LEAD, *listing()]],
     [written("pod/default/10-1-0-1", deletes=POD1), written("svc/default/redis", deletes=REDIS)], True),
    ("a ClusterIP change is one change: new records and old ones gone together", {},
     [[LEAD, *listing([service("redis", "10.0.0.1")])],
      [("services", "MODIFIED", service("redis", "10.0.0.2"))]],
     [written("meta", META), written("svc/default/redis", REDIS),
      written("svc/default/redis", REDIS2, REDIS)], True),
    ("a deleted service takes its records along", {},
     [[LEAD, *listing([service("redis", "10.0.0.1")])],
      [("services", "DELETED", service("redis", "10.0.0.1"))]],
     [written("meta", META), written("svc/default/redis", REDIS), written("svc/default/redis", deletes=REDIS)],
     True),
    ("a pod moving to another IP: one unit deleted, one written", {},
     [[LEAD, *listing(pods=[pod("a", "10.1.0.1")])],
      [("pods", "MODIFIED", pod("a", "10.1.0.2"))]],
     [written("meta", META), written("pod/default/10-1-0-1", POD1),
      written("pod/default/10-1-0-1", deletes=POD1), written("pod/default/10-1-0-2", POD2)], True),
    ("endpoints of a headless service are written with it", {},
     [[LEAD, *listing([service("hl", "None")])],
      [("endpoints", "ADDED", endpoints("hl", subsets("10.2.0.1", "10.2.0.2")))]],
     [written("meta", META), written("svc/default/hl", HEADLESS)], True),
    ("a relist reconciles: what is gone from the listing is deleted", {},
     [[LEAD, *listing([service("redis", "10.0.0.1")])],
      [("services", "LIST", [])]],
     [written("meta", META), written("svc/default/redis", REDIS), written("svc/default/redis", deletes=REDIS)],
     True),
    ("events seen while following are written on taking the lead", {},
     [[LEAD, *listing()],
      [LOSE, ("services", "ADDED", service("redis", "10.0.0.1"))],
      [LEAD]],
     [written("meta", META), written("svc/default/redis", REDIS)], True),
    ("taking the lead reconciles with what the last leader left in etcd", {},
     [[LEAD, *listing([service("redis", "10.0.0.1")])],
      [LOSE, elsewhere(POD1)],
      [LEAD]],
     [written("meta", META), written("svc/default/redis", REDIS), written("pod/default/10-1-0-1", deletes=POD1)],
     True),
    ("losing the lead: not ready until another replica is seen leading", {},
     [[LEAD, *listing()], [LOSE]],
     [written("meta", META)], False),
]


@pytest.mark.parametrize("what,etcd,batches,changes,ready", CASES, ids=[c[0] for c in CASES])
async def test_controller(what, etcd, batches, changes, ready):
    writer = FakeWriter(etcd)
    ctl = Controller(writer, OPT, FakeElection())
    for batch in batches:
        for event in batch:
            if event == LEAD:
                ctl.lead(FakeElection.key, FakeElection.ident)
            elif event == LOSE:
                ctl.lose()
            elif event[0] == "etcd":
                writer.etcd.update((k, v.encode()) for k, v in event[1].items())
            else:
                ctl.on_event(*event)
        await ctl.sync()
    assert writer.written == changes
    assert ctl.ready() is ready
    led = any(LEAD in batch for batch in batches)
    assert writer.guard == ((FakeElection.key, FakeElection.ident) if led else None)


async def test_a_configmap_event_does_not_start_the_write_latency_clock(monkeypatch):
    """kube.list_and_watch counts ConfigMap events too (metrics.event); an hour-old
    one must not be taken as the start of the next Service batch's latency."""
    import asyncio
    import time

    from kube2sky import metrics

    def over_a_minute():  # observations past the histogram's last finite bucket (60 s)
        get = metrics.REGISTRY.get_sample_value
        name = "skydns_kube2sky_event_to_write_duration_seconds"
        return get(f"{name}_count") - get(f"{name}_bucket", {"le": "60.0"}), get(f"{name}_count")

    real = time.monotonic
    monkeypatch.setattr(time, "monotonic", lambda: real() - 3600)
    metrics.event("configmaps", "ADDED")  # an hour ago
    monkeypatch.setattr(time, "monotonic", real)
    slow, count = over_a_minute()

    class Election(FakeElection):
        async def run(self, lead, lose):
            lead()
            await asyncio.Event().wait()

    def source(post, stop):
        while not ctl.leading:  # the listing, not the lead's wake-up, causes the write
            stop.wait(0.01)
        for event in listing([service("redis", "10.0.0.1")]):
            post(*event)

    writer = FakeWriter({})
    ctl = Controller(writer, OPT, Election())
    task = asyncio.create_task(ctl.run([("src", source)]))
    try:
        await asyncio.wait_for(ctl.synced.wait(), 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert writer.written[-1][0] == "svc/default/redis"
    assert over_a_minute() == (slow, count + 1)
