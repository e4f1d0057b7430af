"""kube2sky's writer: how changes split into transactions (a table), and
that a transaction refused because the lead changed hands is counted, from
the unit writes and the ConfigMap's alike (a real etcd)."""

import pytest

from kube2sky import metrics
from kube2sky.plan import Change
from kube2sky.records import Options, service_unit
from kube2sky.writer import MAX_OPS, NotLeader, Writer, chunks
from skydns_common.etcd import Endpoints

P = [(f"/w/p{i}", "v") for i in range(MAX_OPS + 1)]
D = [f"/w/d{i}" for i in range(MAX_OPS + 1)]

# (what, puts, deletes, the transactions as (puts, deletes))
CHUNKS = [
    ("nothing: one empty transaction", [], [], [([], [])]),
    ("puts and deletes that fit: together", P[:2], D[:3], [(P[:2], D[:3])]),
    ("exactly the limit: together", P[:MAX_OPS - 1], D[:1], [(P[:MAX_OPS - 1], D[:1])]),
    ("one over: puts first, then deletes", P[:MAX_OPS], D[:1], [(P[:MAX_OPS], []), ([], D[:1])]),
    ("more puts than one holds: chunks of MAX_OPS", P, [], [(P[:MAX_OPS], []), (P[MAX_OPS:], [])]),
    ("more deletes than one holds", [], D, [([], D[:MAX_OPS]), ([], D[MAX_OPS:])]),
]


@pytest.mark.parametrize("what,puts,deletes,want", CHUNKS, ids=[c[0] for c in CHUNKS])
def test_chunks(what, puts, deletes, want):
    assert chunks(puts, deletes) == want


def _not_leader():
    return metrics.REGISTRY.get_sample_value("skydns_kube2sky_txn_failures_total", {"cause": "not_leader"})


@pytest.mark.etcd
async def test_a_lost_lead_is_counted_by_both_kinds_of_write(etcd):
    writer = Writer(Endpoints([etcd.url]), Options(prefix="/wtxn"), 5)
    try:
        writer.lead(b"/wtxn-leader", b"someone else")
        before = _not_leader()
        with pytest.raises(NotLeader):
            await writer.transact({"/wtxn/config": "{}"}, [], {})
        assert _not_leader() == before + 1
        with pytest.raises(NotLeader):
            await writer.transact({"/wtxn/config": "{}"}, [], {"/wtxn/config": 0})
        assert _not_leader() == before + 2
        with pytest.raises(NotLeader):
            await writer.apply([Change(service_unit("default", "redis"), {"/wtxn/local/redis": "{}"})])
        assert _not_leader() == before + 3
    finally:
        await writer.close()
