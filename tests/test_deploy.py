"""How users run it: the compose file and the manifests validate offline, and
the commands the compose file gives each service run the whole stack
(etcd + kube2sky against the fake API server + skydns), with every change
to a Service visible to dig, the real client, within one second."""

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests import etcdkv
from tests.fakeapi import FakeApi
from tests.k8sobj import service
from tests.procs import REPO, Process, free_port, wait_http

pytestmark = [pytest.mark.etcd, pytest.mark.process]

MANIFESTS = sorted((REPO / "manifests").rglob("*.yaml"))
VALIDATE = str(Path(sys.executable).parent / "kubernetes-validate")
COMPOSE = REPO / "docker-compose.yml"


def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_compose_file_is_valid(tmp_path):
    ok = run(sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "compose.yml"
    broken.write_text(COMPOSE.read_text().replace("restart: unless-stopped", "restart: [sometimes]", 1))
    bad = run(sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(broken))
    assert bad.returncode != 0


@pytest.mark.parametrize("path", MANIFESTS, ids=[str(p.relative_to(REPO)) for p in MANIFESTS])
def test_manifest_is_valid(path):
    out = run(VALIDATE, "--strict", str(path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "passed" in out.stdout + out.stderr


def test_validator_rejects_a_broken_manifest(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(MANIFESTS[0].read_text().replace("dnsPolicy:", "dnsPolicyy:", 1))
    out = run(VALIDATE, "--strict", str(bad))
    assert out.returncode != 0


def test_legacy_manifest_is_the_seed_pod():
    rc = yaml.safe_load((REPO / "manifests/legacy/kube-dns-rc.yaml").read_text())
    assert rc["metadata"]["name"] == "kube-dns-v9" and rc["metadata"]["namespace"] == "kube-system"
    spec = rc["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["etcd", "kube2sky", "skydns"]
    assert spec["dnsPolicy"] == "Default" and spec["volumes"][0]["emptyDir"] == {}
    sky = next(c for c in spec["containers"] if c["name"] == "skydns")
    assert {"-machines=http://localhost:4001", "-addr=0.0.0.0:53", "-domain=cluster.local."} <= set(sky["command"])
    k2s = next(c for c in spec["containers"] if c["name"] == "kube2sky")
    assert "-domain=cluster.local" in k2s["command"]
    assert any(a.startswith("--kube_master_url=") for a in k2s["command"])


def interpolate(text, env):
    def sub(m):
        name, default = m.group(1), m.group(3)
        value = env.get(name)
        return value if value is not None else (default or "")
    return re.sub(r"\$\{([A-Z0-9_]+)(:-([^}]*))?\}", sub, text)


def compose_commands(env):
    doc = yaml.safe_load(interpolate(COMPOSE.read_text(), env))
    return {name: svc["command"] for name, svc in doc["services"].items()}


def dig(port, name, qtype="A"):
    out = run("dig", "@127.0.0.1", "-p", str(port), name, qtype, "+short", "+time=1", "+tries=1")
    assert out.returncode == 0, out.stderr
    return sorted(out.stdout.split())


def eventually(fn, want, limit=1.0):
    start = time.monotonic()
    while True:
        got = fn()
        if got == want:
            return time.monotonic() - start
        if time.monotonic() - start > limit + 2:
            raise AssertionError(f"still {got}, want {want}")
        time.sleep(0.02)


def test_stack_from_the_compose_commands(etcd):
    etcdkv.delete_prefix(etcd.url, "/skydns/")
    api = FakeApi().start()
    dns_port, k2s_port, sky_health = free_port(), free_port(), free_port()
    env = {"ETCD_URL": etcd.url, "KUBE_MASTER_URL": api.url, "CLUSTER_FILE": "", "BIND_ADDRESS": "127.0.0.1",
           "DNS_ADDR": f"127.0.0.1:{dns_port}", "KUBE2SKY_HEALTH_PORT": str(k2s_port),
           "SKYDNS_HEALTH_ADDR": f"127.0.0.1:{sky_health}", "NAMESERVERS": f"127.0.0.1:{free_port()}"}
    cmds = compose_commands(env)
    assert cmds["kube2sky"][0] == "kube2sky" and cmds["skydns"][0] == "skydns"
    procs = [Process(cmd[0], cmd[1:]) for cmd in (cmds["kube2sky"], cmds["skydns"])]
    try:
        wait_http(f"http://127.0.0.1:{k2s_port}/readiness", 30, procs[0].proc)
        wait_http(f"http://127.0.0.1:{sky_health}/readiness", 30, procs[1].proc)
        name = "shop.default.svc.cluster.local."
        api.put("services", service("shop", "10.0.5.1", [{"name": "http", "protocol": "TCP", "port": 80}]))
        assert eventually(lambda: dig(dns_port, name), ["10.0.5.1"]) < 1.0
        assert dig(dns_port, "_http._tcp." + name, "SRV") == ["10", "100", "80", name]
        api.put("services", service("shop", "10.0.5.2", [{"name": "http", "protocol": "TCP", "port": 80}]))
        assert eventually(lambda: dig(dns_port, name), ["10.0.5.2"]) < 1.0
        api.delete("services", "default", "shop")
        assert eventually(lambda: dig(dns_port, name), []) < 1.0
    except AssertionError:
        for p in procs:
            print(p.output())
        raise
    finally:
        for p in procs:
            p.stop()
        api.stop()
        etcdkv.delete_prefix(etcd.url, "/skydns/")


def test_kube2sky_from_file_follows_the_file(etcd, tmp_path):
    etcdkv.delete_prefix(etcd.url, "/fromfile/")
    cluster = tmp_path / "cluster.yaml"
    shutil.copy(REPO / "examples" / "cluster.yaml", cluster)
    port = free_port()
    k = Process("kube2sky", [f"--from-file={cluster}", f"--etcd-server={etcd.url}", "--path-prefix=fromfile",
                             "--healthz-bind-address=127.0.0.1", f"--healthz-port={port}"])
    try:
        wait_http(f"http://127.0.0.1:{port}/readiness", 30, k.proc)
        def keys():
            return sorted(etcdkv.dump(etcd.url, "/fromfile/local/cluster/svc/default/db/"))
        assert keys() == ["/fromfile/local/cluster/svc/default/db/_tcp/_pg/db-0",
                          "/fromfile/local/cluster/svc/default/db/_tcp/_pg/db-1",
                          "/fromfile/local/cluster/svc/default/db/db-0",
                          "/fromfile/local/cluster/svc/default/db/db-1"]
        assert etcdkv.dump(etcd.url, "/fromfile/local/cluster/pod/default/10-1-0-7/")
        cluster.write_text(cluster.read_text().replace("{ip: 10.1.0.2, hostname: db-1}", "{ip: 10.1.0.3, hostname: db-2}"))
        eventually(lambda: [k.rsplit("/", 1)[1] for k in keys()], ["db-0", "db-2", "db-0", "db-2"], limit=5)
    finally:
        k.stop()
        etcdkv.delete_prefix(etcd.url, "/fromfile/")
