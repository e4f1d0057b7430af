"""The store gives back every value as etcd holds it, though it keeps only
those kube2sky did not write in its own form (it writes those again)."""

import hashlib

from skydns.store import Store

TAIL = '"priority":10,"weight":10,"ttl":30,"targetstrip":0}'
# (what, key, value)
VALUES = [
    ("kube2sky's address", "/skydns/local/cluster/svc/default/web/1a2b", '{"host":"10.0.0.7",' + TAIL),
    ("kube2sky's SRV target", "/skydns/local/cluster/svc/default/web/_tcp/_http/3c4d",
     '{"host":"web.default.svc.cluster.local","port":80,' + TAIL),
    ("a port of 0 written out", "/skydns/local/cluster/p0/x", '{"host":"10.0.0.8","port":0,' + TAIL),
    ("an empty host written out", "/skydns/local/cluster/h0/x", '{"host":"",' + TAIL),
    ("no host", "/skydns/local/cluster/nohost/x", "{" + TAIL),
    ("another form", "/skydns/local/cluster/other/x", '{"host":"10.0.0.9","ttl":60}'),
    ("spaces", "/skydns/local/cluster/spaced/x", '{"host": "10.0.0.10", ' + TAIL),
    ("not a record", "/skydns/local/cluster/bad/x", "not json"),
    ("empty", "/skydns/local/cluster/empty/x", ""),
    ("the config", "/skydns/config", '{"domain":"cluster.local."}'),
    ("a key of one case", "/skydns/local/cluster/case/Web", '{"host":"10.0.1.1",' + TAIL),
    ("the same key in another case", "/skydns/local/cluster/case/web", '{"host":"10.0.1.2",' + TAIL),
]


def _digest(items):
    h = hashlib.sha256()
    for key, value in sorted(items):
        h.update(key.encode() + b"\0" + value + b"\0")
    return h.hexdigest()


def test_every_value_comes_back_as_written():
    s = Store()
    s.replace([(k, v.encode()) for _, k, v in VALUES], 1)
    assert {k: s.value(k) for _, k, _ in VALUES} == {k: v.encode() for _, k, v in VALUES}
    assert s.digest() == _digest((k, v.encode()) for _, k, v in VALUES)
    assert s.raw["/skydns/local/cluster/svc/default/web/1a2b"] is None  # not kept: written again
    assert s.value("/skydns/local/cluster/none") is None


def test_values_follow_puts_and_deletes():
    s = Store()
    s.replace([(k, v.encode()) for _, k, v in VALUES], 1)
    web = "/skydns/local/cluster/svc/default/web/1a2b"
    s.put(web, b'{"host":"10.0.0.99",' + TAIL.encode(), 2)
    s.put("/skydns/local/cluster/case/WEB", b'{"host":"10.0.1.3",' + TAIL.encode(), 3)  # a third case takes the leaf
    s.delete("/skydns/local/cluster/other/x", 4)
    want = {k: v.encode() for _, k, v in VALUES if k != "/skydns/local/cluster/other/x"}
    want[web] = b'{"host":"10.0.0.99",' + TAIL.encode()
    want["/skydns/local/cluster/case/WEB"] = b'{"host":"10.0.1.3",' + TAIL.encode()
    assert {k: s.value(k) for k in want} == want
    assert s.digest() == _digest(want.items())
    s.delete("/skydns/local/cluster/case/web", 5)  # drops the leaf that WEB wrote: WEB's value stays
    del want["/skydns/local/cluster/case/web"]
    assert {k: s.value(k) for k in want} == want and s.digest() == _digest(want.items())
