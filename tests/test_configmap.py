"""The kube-dns ConfigMap, live: kube2sky follows it through the fake API
server (or a mounted copy in --config-dir) and skydns answers what it says,
with dnsmasq on loopback standing in for the stub-domain and upstream
servers.  Every key added, changed, removed; bad input; the ConfigMap
deleted and re-created; two replicas; a changed name never NXDOMAIN."""

import json
import os
import threading
import time

import pytest

from tests import etcdkv
from tests.dnsq import ask, rcode, records
from tests.fakeapi import FakeApi
from tests.k8sobj import config_map, service
from tests.procs import Dnsmasq, Kube2sky, Skydns, wait_until

pytestmark = [pytest.mark.etcd, pytest.mark.process]

P = "cm"
D = f"/{P}/local/cluster"
CONFIG = f"/{P}/config"


@pytest.fixture
def clean(clean_prefixes):
    clean_prefixes(f"/{P}/", "/kube2sky/", "/skydnsctl/")


@pytest.fixture
def peers():
    """Two stub-domain servers and two upstreams, all dnsmasq on loopback."""
    servers = {
        "stub1": Dnsmasq({"www.corp.example": "10.9.0.1"}, zone="corp.example"),
        "stub2": Dnsmasq({"www.corp.example": "10.9.0.2"}, zone="corp.example"),
        "up1": Dnsmasq({"www.upstream.example": "10.9.1.1"}, zone="upstream.example"),
        "up2": Dnsmasq({"www.upstream.example": "10.9.1.2"}, zone="upstream.example"),
    }
    yield servers
    for s in servers.values():
        s.cleanup()


def sky(etcd):
    return Skydns(etcd.url, "-domain=cluster.local.", f"-path-prefix={P}", "-stubzones", "-rcache=0")


def addrs(server, name, qtype="A"):
    return sorted(r["address"] for r in records(ask(server.port, name, qtype).answer))


def eventually(server, name, want, qtype="A", timeout=10):
    wait_until(lambda: addrs(server, name, qtype) == want, timeout, f"{name} {qtype} -> {want}")


def data(stubs, upstreams, hosts):
    out = {}
    if stubs is not None:
        out["stubDomains"] = json.dumps(stubs)
    if upstreams is not None:
        out["upstreamNameservers"] = json.dumps(upstreams)
    if hosts is not None:
        out["hosts"] = hosts
    return out


class NeverNx:
    """Asks a name over and over in a thread, recording every rcode and address set."""

    def __init__(self, server, name):
        self.seen, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self._run, args=(server, name), daemon=True)
        self.thread.start()

    def _run(self, server, name):
        while not self.stop.is_set():
            m = ask(server.port, name, "A")
            self.seen.append((rcode(m), tuple(sorted(r["address"] for r in records(m.answer)))))

    def done(self):
        self.stop.set()
        self.thread.join(5)
        return self.seen


def test_every_key_added_changed_removed_live(etcd, api, clean, peers):
    etcdkv.put(etcd.url, {CONFIG: '{"priority":20}', f"{D}/custom/x": '{"host":"10.8.8.8"}'})
    api.put("services", service("web", "10.0.0.7"))
    with Kube2sky.for_prefix(P, api.url, etcd.url, "--config-map=kube-dns", ready=False) as kube2sky, \
            sky(etcd) as skydns:
        kube2sky.wait_ready()
        eventually(skydns, "web.default.svc.cluster.local.", ["10.0.0.7"])
        assert rcode(ask(skydns.port, "registry.cluster.local.")) == "NXDOMAIN"  # no ConfigMap: nothing to do

        api.put("configmaps", config_map("kube-dns", data(
            {"corp.example": [peers["stub1"].addr]}, [peers["up1"].addr],
            "10.0.0.1 registry paas-nacos-register\n10.0.0.3 nexus.tools\nfd00::1 registry\n")))
        eventually(skydns, "registry.cluster.local.", ["10.0.0.1"])
        eventually(skydns, "registry.cluster.local.", ["fd00::1"], "AAAA")
        eventually(skydns, "nexus.tools.cluster.local.", ["10.0.0.3"])
        eventually(skydns, "www.corp.example.", ["10.9.0.1"])
        eventually(skydns, "www.upstream.example.", ["10.9.1.1"])
        assert json.loads(etcdkv.dump(etcd.url, CONFIG)[CONFIG]) == {"priority": 20, "nameservers": [peers["up1"].addr]}

        # every key changed; the changed name is never NXDOMAIN in between
        watch = NeverNx(skydns, "registry.cluster.local.")
        time.sleep(0.2)
        api.put("configmaps", config_map("kube-dns", data(
            {"corp.example": [peers["stub2"].addr]}, [peers["up2"].addr],
            "10.0.0.2 registry paas-nacos-register\nfd00::1 registry\n")))
        eventually(skydns, "registry.cluster.local.", ["10.0.0.2"])
        time.sleep(0.2)
        seen = watch.done()
        assert {r for r, _ in seen} == {"NOERROR"}, sorted(set(seen))
        assert {a for _, a in seen} <= {("10.0.0.1",), ("10.0.0.2",)} and ("10.0.0.1",) in {a for _, a in seen}
        eventually(skydns, "nexus.tools.cluster.local.", [])
        eventually(skydns, "www.corp.example.", ["10.9.0.2"])
        eventually(skydns, "www.upstream.example.", ["10.9.1.2"])

        # keys removed one by one: exactly what each produced goes
        api.put("configmaps", config_map("kube-dns", data({"corp.example": [peers["stub2"].addr]}, None, None)))
        wait_until(lambda: json.loads(etcdkv.dump(etcd.url, CONFIG)[CONFIG]) == {"priority": 20}, what="upstreams gone")
        eventually(skydns, "registry.cluster.local.", [])
        assert addrs(skydns, "www.corp.example.") == ["10.9.0.2"]
        api.put("configmaps", config_map("kube-dns", {}))
        wait_until(lambda: etcdkv.dump(etcd.url, f"{D}/dns/stub/") == {}, what="stub zone gone")

        # deleted and re-created
        api.put("configmaps", config_map("kube-dns", data(None, None, "10.0.0.5 registry\n")))
        eventually(skydns, "registry.cluster.local.", ["10.0.0.5"])
        api.delete("configmaps", "kube-system", "kube-dns")
        eventually(skydns, "registry.cluster.local.", [])
        api.put("configmaps", config_map("kube-dns", data(None, None, "10.0.0.6 registry\n")))
        eventually(skydns, "registry.cluster.local.", ["10.0.0.6"])

        # what others wrote was never touched
        everything = etcdkv.dump(etcd.url, f"/{P}/")
        assert everything[f"{D}/custom/x"] == b'{"host":"10.8.8.8"}'
        assert addrs(skydns, "web.default.svc.cluster.local.") == ["10.0.0.7"]
        assert json.loads(everything[CONFIG]) == {"priority": 20}


def test_bad_input_keeps_the_last_good_state(etcd, api, clean, peers):
    api.put("configmaps", config_map("kube-dns", data({"corp.example": [peers["stub1"].addr]}, [peers["up1"].addr],
                                                      "10.0.0.1 registry\n")))
    with Kube2sky.for_prefix(P, api.url, etcd.url, "--config-map=kube-dns", ready=False) as kube2sky, \
            sky(etcd) as skydns:
        kube2sky.wait_ready()
        eventually(skydns, "registry.cluster.local.", ["10.0.0.1"])
        eventually(skydns, "www.corp.example.", ["10.9.0.1"])
        before = etcdkv.dump(etcd.url, f"/{P}/")
        api.put("configmaps", config_map("kube-dns", {
            "stubDomains": '{"corp.example": ["10.9.9.9"]',  # not JSON
            "upstreamNameservers": '["not-an-ip"]',
            "hosts": "10.0.0.2 registry\nthis is not a hosts line\n"}))
        wait_until(lambda: "key hosts rejected" in kube2sky.output(), what="the hosts line reported")
        wait_until(lambda: kube2sky.metric("skydns_kube2sky_configmap_errors_total", key="hosts") == 1.0,
                   what="counted")
        assert kube2sky.metric("skydns_kube2sky_configmap_errors_total", key="stubDomains") == 1.0
        assert kube2sky.metric("skydns_kube2sky_configmap_errors_total", key="upstreamNameservers") == 1.0
        out = kube2sky.output()
        assert out.count("key stubDomains rejected") == 1 and "line 2" in out and "not JSON" in out
        time.sleep(0.5)
        assert etcdkv.dump(etcd.url, f"/{P}/") == before  # nothing lost, nothing half-applied
        assert addrs(skydns, "registry.cluster.local.") == ["10.0.0.1"]
        assert addrs(skydns, "www.corp.example.") == ["10.9.0.1"]
        # one key fixed: it applies while the others stay at their last good state
        api.put("configmaps", config_map("kube-dns", {
            "stubDomains": '{"corp.example": ["10.9.9.9"]', "upstreamNameservers": '["not-an-ip"]',
            "hosts": "10.0.0.2 registry\n"}))
        eventually(skydns, "registry.cluster.local.", ["10.0.0.2"])
        assert addrs(skydns, "www.corp.example.") == ["10.9.0.1"]
        assert json.loads(etcdkv.dump(etcd.url, CONFIG)[CONFIG]) == {"nameservers": [peers["up1"].addr]}


def test_only_the_leader_writes(etcd, api, clean):
    api.put("configmaps", config_map("kube-dns", data(None, None, "10.0.0.1 registry\n")))
    with Kube2sky.for_prefix(P, api.url, etcd.url, "--config-map=kube-dns", "--id=first", ready=False) as first, \
            Kube2sky.for_prefix(P, api.url, etcd.url, "--config-map=kube-dns", "--id=second", ready=False) as second:
        first.wait_ready()
        second.wait_ready()
        wait_until(lambda: len(etcdkv.dump(etcd.url, f"{D}/registry/")) == 1, what="first write")
        api.put("configmaps", config_map("kube-dns", data(None, None, "10.0.0.2 registry\n")))
        wait_until(lambda: list(etcdkv.dump(etcd.url, f"{D}/registry/").values()) == [b'{"host":"10.0.0.2"}'],
                   what="leader writes the change")
        leader, follower = (first, second) if b"first" in etcdkv.dump(etcd.url, "/kube2sky/leader/").values() \
            else (second, first)
        assert "ConfigMap kube-system/kube-dns: 1 put" in leader.output()
        assert "ConfigMap kube-system/kube-dns:" not in follower.output()
        leader.stop()
        api.put("configmaps", config_map("kube-dns", data(None, None, "10.0.0.3 registry\n")))
        wait_until(lambda: list(etcdkv.dump(etcd.url, f"{D}/registry/").values()) == [b'{"host":"10.0.0.3"}'],
                   what="the new leader writes")


def swap(config_dir, files):
    """The kubelet's atomic writer: a new timestamped directory, then ..data swapped to it."""
    stamp = f"..{time.time_ns()}"
    os.mkdir(config_dir / stamp)
    for key, text in files.items():
        (config_dir / stamp / key).write_text(text)
    old = os.readlink(config_dir / "..data") if (config_dir / "..data").is_symlink() else None
    os.symlink(stamp, config_dir / "..data_tmp")
    os.rename(config_dir / "..data_tmp", config_dir / "..data")
    for key in files:
        if not (config_dir / key).is_symlink():
            os.symlink(f"..data/{key}", config_dir / key)
    for link in list(config_dir.iterdir()):
        if link.is_symlink() and not link.name.startswith("..") and link.name not in files:
            link.unlink()
    if old:
        for f in (config_dir / old).iterdir():
            f.unlink()
        (config_dir / old).rmdir()


def test_config_dir_follows_data_swaps(etcd, api, clean, peers, tmp_path):
    cfg = tmp_path / "kube-dns-config"
    cfg.mkdir()
    swap(cfg, {"hosts": "10.0.0.1 registry\n"})
    with Kube2sky.for_prefix(P, api.url, etcd.url, f"--config-dir={cfg}", ready=False) as kube2sky, \
            sky(etcd) as skydns:
        kube2sky.wait_ready()
        eventually(skydns, "registry.cluster.local.", ["10.0.0.1"])
        watch = NeverNx(skydns, "registry.cluster.local.")
        for i in range(2, 6):  # swaps in quick succession: files vanish while being read
            swap(cfg, {"hosts": f"10.0.0.{i} registry\n", "stubDomains": json.dumps({"corp.example": [peers["stub1"].addr]})})
            time.sleep(0.05)
        eventually(skydns, "registry.cluster.local.", ["10.0.0.5"], timeout=5)
        seen = watch.done()
        assert {r for r, _ in seen} == {"NOERROR"}
        eventually(skydns, "www.corp.example.", ["10.9.0.1"])
        swap(cfg, {"stubDomains": json.dumps({"corp.example": [peers["stub1"].addr]})})  # hosts key removed
        eventually(skydns, "registry.cluster.local.", [])
        assert addrs(skydns, "www.corp.example.") == ["10.9.0.1"]


def test_a_hosts_key_larger_than_one_transaction(etcd, api, clean):
    """300 records: over etcd's 128 operations per transaction."""
    lines = "".join(f"10.40.{i // 250}.{i % 250 + 1} big{i}\n" for i in range(300))
    api.put("configmaps", config_map("kube-dns", data(None, None, lines)))
    with Kube2sky.for_prefix(P, api.url, etcd.url, "--config-map=kube-dns", ready=False) as kube2sky, \
            sky(etcd) as skydns:
        kube2sky.wait_ready()
        wait_until(lambda: len(etcdkv.dump(etcd.url, f"{D}/big")) == 300, what="300 records")
        eventually(skydns, "big299.cluster.local.", ["10.40.1.50"])
        manifest = json.loads(etcdkv.dump(etcd.url, "/kube2sky/configmap/")[f"/kube2sky/configmap/{P}/kube-system/kube-dns"])
        assert len(manifest["keys"]) == 300 and len(manifest["sections"]["hosts"]) == 300
        moved = lines.replace("10.40.0.1 big0\n", "10.41.0.1 big0\n")
        api.put("configmaps", config_map("kube-dns", data(None, None, moved)))
        eventually(skydns, "big0.cluster.local.", ["10.41.0.1"])
        api.delete("configmaps", "kube-system", "kube-dns")
        wait_until(lambda: etcdkv.dump(etcd.url, f"{D}/big") == {}, what="all 300 removed")


def test_a_server_without_configmaps_means_no_configmap_asked_again_quietly(monkeypatch, caplog):
    """Kubernetes before 1.2 has no ConfigMaps: the list is a 404.  That posts
    None once, logs once at info (never a warning), and is asked again every
    ABSENT_RECHECK seconds; ConfigMaps appearing (an upgrade) are then followed."""
    import logging

    from kube2sky import customsource, kube

    monkeypatch.setattr(customsource, "ABSENT_RECHECK", 0.2)
    fake = FakeApi().start()
    fake.absent.add("configmaps")
    posted, stop = [], threading.Event()
    caplog.set_level(logging.INFO, logger="kube2sky")
    t = threading.Thread(target=customsource.pump_api,
                         args=(kube.api_client(fake.url), "kube-system", "kube-dns", posted.append, stop, 5))
    t.start()
    try:
        wait_until(lambda: sum("configmaps" in r for r in fake.requests) >= 4, timeout=10)
        assert posted == [None]
        fake.absent.clear()
        fake.put("configmaps", config_map("kube-dns", {"upstreamNameservers": '["10.9.9.9"]'}))
        wait_until(lambda: len(posted) == 2, timeout=10)
        assert posted[1] == {"upstreamNameservers": '["10.9.9.9"]'}
    finally:
        stop.set()
        t.join(10)
        fake.stop()
    mine = [r for r in caplog.records if r.name == "kube2sky.customsource"]
    assert [r.levelname for r in mine] == ["INFO"]
    assert "serves no ConfigMaps" in mine[0].getMessage()
