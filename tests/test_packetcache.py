"""The packet cache: a kept reply is reused only while what it read is unchanged."""

import dataclasses

import dns.message
import pytest

from skydns.config import Config, normalise
from skydns.forward import Forwarder
from skydns.handler import Handler, State
from skydns.metrics import Metrics
from skydns.store import Store

D = "/skydns/local/cluster"
BASE = {f"{D}/svc/default/web/1": b'{"host":"10.0.0.1"}', f"{D}/svc/default/db/1": b'{"host":"10.0.0.2"}',
        f"{D}/svc/default/multi/a": b'{"host":"10.0.1.1"}', f"{D}/svc/default/multi/b": b'{"host":"10.0.1.2"}'}


@pytest.fixture
def h():
    store = Store()
    store.replace(list(BASE.items()), 1)
    state = State(store, normalise(Config(domain="cluster.local.", nameservers=(), round_robin=False)))
    return Handler(state, Forwarder(lambda: state.config), Metrics())


def q(name, qtype="A", qid=7):
    m = dns.message.make_query(name, qtype)
    m.id = qid
    return m.to_wire()


def addrs(data):
    return sorted(rd.address for rrset in dns.message.from_wire(data).answer for rd in rrset)


WEB = "web.default.svc.cluster.local."


def test_hit_patches_the_id(h):
    first = h.handle(q(WEB, qid=1), False)
    assert h.fast(q(WEB, qid=2), False)[:2] == b"\x00\x02"
    assert h.fast(q(WEB, qid=2), False)[2:] == first[2:]


# (what changes, whether the kept answer for WEB survives)
CHANGES = [
    ("another name changes", lambda s: s.put(f"{D}/svc/default/db/1", b'{"host":"10.9.9.9"}'), True),
    ("another name appears", lambda s: s.put(f"{D}/svc/default/new/1", b'{"host":"10.9.9.8"}'), True),
    ("its own key changes", lambda s: s.put(f"{D}/svc/default/web/1", b'{"host":"10.0.0.9"}'), False),
    ("a key appears under it", lambda s: s.put(f"{D}/svc/default/web/2", b'{"host":"10.0.0.3"}'), False),
    ("its key is deleted", lambda s: s.delete(f"{D}/svc/default/web/1"), False),
    ("a relist", lambda s: s.replace(list(BASE.items()), 9), False),
]


@pytest.mark.parametrize("what,change,kept", CHANGES, ids=[c[0] for c in CHANGES])
def test_dropped_exactly_when_the_store_changes_under_the_name(h, what, change, kept):
    h.handle(q(WEB), False)
    change(h.state.store)
    hit = h.fast(q(WEB), False)
    assert (hit is not None) is kept
    fresh = h.handle(q(WEB), False)
    assert addrs(fresh) == addrs(h.handle(q(WEB, qid=99), False))  # always the store's current answer


def test_nxdomain_is_dropped_when_the_name_appears(h):
    name = "late.default.svc.cluster.local."
    assert dns.message.from_wire(h.handle(q(name), False)).rcode() == 3
    assert h.fast(q(name), False) is not None
    h.state.store.put(f"{D}/svc/default/late/1", b'{"host":"10.4.4.4"}')
    assert h.fast(q(name), False) is None
    assert addrs(h.handle(q(name), False)) == ["10.4.4.4"]


def test_a_new_configuration_drops_everything(h):
    h.handle(q(WEB), False)
    h.state.config = dataclasses.replace(h.state.config, ttl=5)
    assert h.fast(q(WEB), False) is None


def test_leased_answers_are_never_kept(h):
    h.state.store.set_expiry(f"{D}/svc/default/web/1", 2_000_000_000.0)
    h.handle(q(WEB), False)
    assert h.fast(q(WEB), False) is None


def test_round_robin_rotations_are_served_in_turn(h):
    h.state.config = dataclasses.replace(h.state.config, round_robin=True)
    name = "multi.default.svc.cluster.local."
    h.handle(q(name), False)
    firsts = {dns.message.from_wire(h.fast(q(name), False)).answer[0][0].address for _ in range(4)}
    assert firsts == {"10.0.1.1", "10.0.1.2"}


def test_udp_and_tcp_are_kept_apart(h):
    h.handle(q(WEB), False)
    assert h.fast(q(WEB), True) is None
