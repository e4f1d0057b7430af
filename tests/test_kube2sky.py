"""kube2sky as a process against the fake API server and a real etcd:
restarts, atomic updates, 410s, broken streams, legacy names, custom
records left alone, and two replicas."""

import asyncio
import threading
import time

import aetcd
import pytest

from tests import etcdkv
from tests.k8sobj import endpoints, pod, service
from tests.procs import Kube2sky, wait_until

from kube2sky.records import value
from skydns_common.msg import hash_label

pytestmark = [pytest.mark.etcd, pytest.mark.process]

P = "k2s"
D = f"/{P}/local/cluster"




def keys(url, sub="svc/"):
    return etcdkv.dump(url, f"{D}/{sub}")


@pytest.fixture
def clean(clean_prefixes):
    clean_prefixes(f"/{P}/", "/kube2sky/")


def test_restart_removes_records_of_services_deleted_while_down(etcd, api, clean):
    api.put("services", service("keep", "10.0.0.1"))
    api.put("services", service("gone", "10.0.0.2"))
    etcdkv.put(etcd.url, {f"{D}/hadoop/nn1": '{"host":"10.1.1.1"}', f"/{P}/arpa/in-addr/10/1/1/1": '{"host":"nn1.hadoop.cluster.local."}'})
    with Kube2sky.for_prefix(P, api.url, etcd.url):
        wait_until(lambda: f"{D}/svc/default/gone/4e756cde" in keys(etcd.url), what="first sync")
    api.delete("services", "default", "gone")
    k = Kube2sky.for_prefix(P, api.url, etcd.url)
    try:
        wait_until(lambda: not any("/gone/" in key for key in keys(etcd.url)), what="stale record removed")
        assert f"{D}/svc/default/keep/c88f1059" in keys(etcd.url)
        assert f"/{P}/arpa/in-addr/10/0/0/2" not in etcdkv.dump(etcd.url, f"/{P}/arpa/")
        # custom records under the prefix are never touched
        everything = etcdkv.dump(etcd.url, f"/{P}/")
        assert everything[f"{D}/hadoop/nn1"] == b'{"host":"10.1.1.1"}'
        assert f"/{P}/arpa/in-addr/10/1/1/1" in everything
    finally:
        k.stop()


def test_clusterip_update_is_one_transaction(etcd, api, clean):
    api.put("services", service("web", "10.0.0.1", [{"name": "http", "protocol": "TCP", "port": 80}]))
    k = Kube2sky.for_prefix(P, api.url, etcd.url)
    try:
        wait_until(lambda: len(keys(etcd.url)) == 2, what="first sync")
        seen = []
        stop = threading.Event()
        port = int(etcd.url.rsplit(":", 1)[1])

        def watcher():
            async def go():
                async with aetcd.Client("127.0.0.1", port) as c:
                    start_rev = (await c.get_prefix(f"{D}/svc/".encode())).header.revision
                    w = await c.watch_prefix(f"{D}/svc/".encode(), start_revision=start_rev + 1)
                    async for ev in w:
                        seen.append((ev.kv.mod_revision, ev.kind, ev.kv.key.decode()))
                        if stop.is_set() or len(seen) >= 4:
                            break
            asyncio.run(go())

        t = threading.Thread(target=watcher, daemon=True)
        t.start()
        time.sleep(0.5)
        api.put("services", service("web", "10.0.0.2", [{"name": "http", "protocol": "TCP", "port": 80}]))
        wait_until(lambda: len(seen) >= 4, what="watch events")
        stop.set()
        revisions = {rev for rev, _, _ in seen}
        assert len(revisions) == 1, f"puts and deletes in several revisions: {seen}"
        got = keys(etcd.url)
        assert got == {f"{D}/svc/default/web/4e756cde": value("10.0.0.2").encode(),
                       f"{D}/svc/default/web/_tcp/_http/4e756cde": value("web.default.svc.cluster.local.", 80).encode()}
    finally:
        k.stop()


@pytest.mark.parametrize("fault", ["410", "drop", "500", "restart"])
def test_watch_faults_converge(etcd, api, clean, fault):
    api.put("services", service("a", "10.0.0.1"))
    k = Kube2sky.for_prefix(P, api.url, etcd.url, "--watch-timeout=30")
    try:
        wait_until(lambda: len(keys(etcd.url)) == 1, what="first sync")
        if fault == "410":
            api.compact()
            api.drop_streams()
            api.put("services", service("b", "10.0.0.2"))
        elif fault == "drop":
            api.drop_streams()
            api.put("services", service("b", "10.0.0.2"))
        elif fault == "500":
            api.fail_next(500, 500)
            api.drop_streams()
            api.put("services", service("b", "10.0.0.2"))
        else:
            api.restart({"services": [service("b", "10.0.0.2")]})
        api.put("services", service("c", "10.0.0.3"))
        want = {"b", "c"} if fault == "restart" else {"a", "b", "c"}
        wait_until(lambda: {key.split("/")[-2] for key in keys(etcd.url)} == want, what=f"converged after {fault}")
        if fault == "410":
            assert k.output().count("listing again") >= 1
    finally:
        k.stop()


def test_headless_and_pods_written(etcd, api, clean):
    api.put("services", service("hl", "None", [{"name": "http", "protocol": "TCP", "port": 80}]))
    api.put("endpoints", endpoints("hl", [{"addresses": [{"ip": "10.0.0.5", "hostname": "web-0"}],
                                           "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}]))
    api.put("pods", pod("p1", "10.1.2.3"))
    k = Kube2sky.for_prefix(P, api.url, etcd.url)
    try:
        wait_until(lambda: f"{D}/svc/default/hl/_tcp/_http/web-0" in keys(etcd.url), what="headless")
        wait_until(lambda: keys(etcd.url, "pod/") != {}, what="pod")
        ptr = f"/{P}/arpa/in-addr/10/0/0/5/" + hash_label("hl.default.svc.cluster.local.")  # one per service
        assert etcdkv.dump(etcd.url, f"/{P}/arpa/")[ptr] == b'{"host":"web-0.hl.default.svc.cluster.local.","ttl":30}'
        assert etcdkv.dump(etcd.url, f"{D}/dns-version") == {f"{D}/dns-version": b'{"text":"1.0.0"}'}
    finally:
        k.stop()


def test_legacy_names_on_then_off(etcd, api, clean):
    api.put("services", service("redis", "10.0.0.1"))
    api.put("services", service("hl", "None"))  # and the 1.7-1.11 headless leaves D/<ns>/<svc>/<hash>
    api.put("endpoints", endpoints("hl", [{"addresses": [{"ip": "10.0.0.5", "hostname": "web-0"}]}]))
    k = Kube2sky.for_prefix(P, api.url, etcd.url, "--legacy-names")
    try:
        wait_until(lambda: etcdkv.dump(etcd.url, f"{D}/default/") == {
            f"{D}/default/redis": value("10.0.0.1").encode(),
            f"{D}/default/hl/{hash_label(value('10.0.0.5'))}": value("10.0.0.5").encode()}, what="legacy names")
        assert f"{D}/svc/default/redis/c88f1059" in keys(etcd.url)
    finally:
        k.stop()
    k = Kube2sky.for_prefix(P, api.url, etcd.url, "-legacy-names=false")
    try:
        wait_until(lambda: etcdkv.dump(etcd.url, f"{D}/default/") == {}, what="legacy name removed")
        assert f"{D}/svc/default/redis/c88f1059" in keys(etcd.url)
    finally:
        k.stop()


def test_two_replicas_one_writer_and_handover(etcd, api, clean):
    api.put("services", service("a", "10.0.0.1"))
    with Kube2sky.for_prefix(P, api.url, etcd.url, "--id=first") as first, \
            Kube2sky.for_prefix(P, api.url, etcd.url, "--id=second", ready=False) as second:
        second.wait_ready()
        wait_until(lambda: len(keys(etcd.url)) == 1, what="first sync")
        assert etcdkv.dump(etcd.url, "/kube2sky/leader/")[f"/kube2sky/leader/{P}"] == b"first"
        api.put("services", service("b", "10.0.0.2"))
        wait_until(lambda: len(keys(etcd.url)) == 2, what="leader writes")
        assert "a: 0 put" not in second.output() and "svc/default/b" not in second.output()
        first.proc.kill()
        first.proc.wait()
        killed = time.monotonic()
        wait_until(lambda: etcdkv.dump(etcd.url, "/kube2sky/leader/").get(f"/kube2sky/leader/{P}") == b"second",
                   timeout=10, what="handover")
        assert time.monotonic() - killed < 3 + 1.5  # within the lease TTL (plus polling)
        api.put("services", service("c", "10.0.0.3"))
        wait_until(lambda: len(keys(etcd.url)) == 3, what="new leader writes")


def test_keeps_running_without_etcd(api, clean):
    """etcd unreachable: not ready, retrying, no crash."""
    from tests.procs import free_port
    k = Kube2sky(api.url, f"http://127.0.0.1:{free_port()}", f"--path-prefix={P}", "--etcd-mutation-timeout=1s")
    try:
        time.sleep(4)
        assert k.proc.poll() is None
        assert not k.ready()
    finally:
        k.stop()


def test_stopping_leader_hands_over_at_once(etcd, api, clean):
    api.put("services", service("a", "10.0.0.1"))
    with Kube2sky.for_prefix(P, api.url, etcd.url, "--id=first", "--lease-ttl=30") as first, \
            Kube2sky.for_prefix(P, api.url, etcd.url, "--id=second", "--lease-ttl=30", ready=False) as second:
        second.wait_ready()
        first.stop()  # SIGTERM: the lease is revoked, not left to run out
        stopped = time.monotonic()
        wait_until(lambda: etcdkv.dump(etcd.url, "/kube2sky/leader/").get(f"/kube2sky/leader/{P}") == b"second",
                   timeout=10, what="handover")
        assert time.monotonic() - stopped < 3


def test_a_service_with_more_records_than_one_transaction_allows(etcd, api, clean):
    """100 endpoints x (A + SRV + PTR) is 300 keys, over etcd's 128 operations per transaction."""
    addresses = [{"ip": f"10.7.0.{i}", "hostname": f"w-{i}"} for i in range(100)]
    api.put("services", service("big", "None", [{"name": "http", "protocol": "TCP", "port": 80}]))
    api.put("endpoints", endpoints("big", [{"addresses": addresses,
                                            "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}]))
    for i in range(30):
        api.put("services", service(f"s{i}", f"10.8.0.{i}"))
    k = Kube2sky.for_prefix(P, api.url, etcd.url)
    try:
        wait_until(lambda: len(keys(etcd.url)) == 200 + 30, what="all written")
        addresses[0] = {"ip": "10.7.1.0", "hostname": "w-0"}
        api.put("endpoints", endpoints("big", [{"addresses": addresses,
                                                "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}]))
        wait_until(lambda: keys(etcd.url)[f"{D}/svc/default/big/w-0"] == value("10.7.1.0").encode(), what="update")
        assert len(keys(etcd.url)) == 230
    finally:
        k.stop()


def test_metrics_after_a_known_sequence(etcd, api, clean):
    k = Kube2sky.for_prefix(P, api.url, etcd.url, "--watch-timeout=1")
    try:
        wait_until(lambda: etcdkv.dump(etcd.url, f"{D}/dns-version") != {}, what="first sync")
        steps = [  # (change, key that shows it written)
            (lambda: api.put("services", service("web", "10.0.0.1")), f"{D}/svc/default/web/c88f1059", True),
            (lambda: api.put("services", service("web", "10.0.0.2")), f"{D}/svc/default/web/c88f1059", False),
            (lambda: api.delete("services", "default", "web"), f"{D}/svc/default/web/4e756cde", False),
        ]
        for change, key, present in steps:
            before = keys(etcd.url)
            change()
            wait_until(lambda: (key in keys(etcd.url)) == present and keys(etcd.url) != before, what=key)
        wait_until(lambda: k.metrics().get(("skydns_kube2sky_watch_restarts_total", (("kind", "pods"),)), 0) >= 1,
                   timeout=10, what="a watch opened again after its 1 s timeout")
        m = k.metrics()
        n = "skydns_kube2sky_"
        assert m[(n + "events_total", (("kind", "services"), ("type", "ADDED")))] == 1
        assert m[(n + "events_total", (("kind", "services"), ("type", "MODIFIED")))] == 1
        assert m[(n + "events_total", (("kind", "services"), ("type", "DELETED")))] == 1
        assert all(m[(n + "relists_total", (("kind", kind),))] == 1 for kind in ("services", "endpoints", "pods"))
        # dns-version (1 unit, 1 key); web: A + PTR; 10.0.0.2: 2 put, 2 deleted; delete: 2 deleted
        assert m[(n + "units_written_total", ())] == 4
        assert m[(n + "keys_put_total", ())] == 5
        assert m[(n + "keys_deleted_total", ())] == 4
        assert m[(n + "txn_failures_total", (("cause", "etcd"),))] == 0
        assert m[(n + "txn_failures_total", (("cause", "not_leader"),))] == 0
        assert m[(n + "leader", ())] == 1 and m[(n + "leader_changes_total", ())] == 1
        assert m[(n + "event_to_write_duration_seconds_count", ())] >= 3
        assert 0 < m[(n + "event_to_write_duration_seconds_sum", ())] < 30
    finally:
        k.stop()
