"""kube2sky as a process under faults: records of others that merely look
like its own are left alone, and a watch that went silent is noticed in
bounded time.  Fake API server and a real etcd, on loopback."""

import time

import pytest

from tests import etcdkv
from tests.k8sobj import service
from tests.procs import Kube2sky, wait_until

from kube2sky.records import value

P = "k2sf"
D = f"/{P}/local/cluster"


@pytest.fixture
def clean(clean_prefixes):
    clean_prefixes(f"/{P}/", "/kube2sky/")


@pytest.mark.etcd
@pytest.mark.process
def test_custom_records_of_the_legacy_shape_are_left_alone(etcd, api, clean):
    custom = {f"{D}/hadoop/nn1": value("10.1.1.1"),     # a namespace with no service
              f"{D}/default/db": value("10.1.1.2")}     # a name no service has, in a used namespace
    etcdkv.put(etcd.url, custom)
    api.put("services", service("redis", "10.0.0.1"))
    for _ in range(2):  # the first sync, and the reconcile of a restart
        k = Kube2sky.for_prefix(P, api.url, etcd.url)
        try:
            wait_until(lambda: f"{D}/svc/default/redis/c88f1059" in etcdkv.dump(etcd.url, f"{D}/svc/"),
                       what="the service written")
            api.put("services", service("web", "10.0.0.2"))  # a change after the sync too
            wait_until(lambda: f"{D}/svc/default/web/" in "".join(etcdkv.dump(etcd.url, f"{D}/svc/")),
                       what="the change written")
        finally:
            k.stop()
        api.delete("services", "default", "web")
        got = {key: val.decode() for key, val in etcdkv.dump(etcd.url, f"{D}/").items() if key in custom}
        assert got == custom


@pytest.mark.etcd
@pytest.mark.process
@pytest.mark.slow
def test_a_silent_watch_is_noticed_within_its_deadline(etcd, api, clean):
    api.put("services", service("first", "10.0.0.1"))
    k = Kube2sky.for_prefix(P, api.url, etcd.url, "--watch-timeout=2")
    try:
        wait_until(lambda: etcdkv.dump(etcd.url, f"{D}/svc/default/first/"), what="first sync")
        time.sleep(0.5)
        api.blackhole_streams()  # open watches go silent, connections kept
        silent = time.monotonic()
        api.put("services", service("late", "10.0.0.9"))
        # the watch ends at --watch-timeout; kube2sky waits 5 s past that, not 15
        wait_until(lambda: etcdkv.dump(etcd.url, f"{D}/svc/default/late/"), 10,
                   "a change made while the watch was silent")
        took = time.monotonic() - silent
    finally:
        k.stop()
    print(f"silent watch noticed, change written after {took:.1f}s")
    assert took <= 2 + 5 + 2


def test_the_api_connection_has_tcp_keepalive():
    import socket

    from kube2sky import kube
    api = kube.api_client("http://127.0.0.1:1")
    opts = api.api_client.rest_client.pool_manager.connection_pool_kw["socket_options"]
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in opts
    assert (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 10) in opts
