"""Security: etcd with TLS and client certificates for all three programs,
no secrets or record data in logs, ANY refused, a non-root image."""

import re
import subprocess
import sys
import time

import pytest

from tests.dnsq import ask, rcode, records
from tests.fakeapi import FakeApi
from tests.k8sobj import service
from tests.procs import REPO, Etcd, Kube2sky, Skydns
from tests.tlsutil import make_certs

pytestmark = [pytest.mark.etcd, pytest.mark.process]

SECRET_VALUE = '{"host":"10.66.0.1","text":"s3cret-record-data"}'


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_etcd(tls):
    e = Etcd("tls", tls=tls).start()
    yield e
    e.cleanup()


def ctl(etcd, tls, *args, client=True):
    flags = [f"--machines={etcd.url}", "--path-prefix=sec", f"--ca-cert={tls['ca']}"]
    if client:
        flags += [f"--tls-pem={tls['client_cert']}", f"--tls-key={tls['client_key']}"]
    return subprocess.run([sys.executable, "-m", "skydnsctl", *flags, *args], capture_output=True, text=True,
                          timeout=60, cwd=REPO)


def test_all_three_programs_over_tls_with_client_certificates(tls_etcd, tls):
    r = ctl(tls_etcd, tls, "add", "secret.cluster.local", "10.66.0.1", "--text", "s3cret-record-data")
    assert r.returncode == 0, r.stderr
    refused = ctl(tls_etcd, tls, "ls", client=False)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr

    tls_flags = [f"-ca-cert={tls['ca']}", f"-tls-pem={tls['client_cert']}", f"-tls-key={tls['client_key']}"]
    sky = Skydns(tls_etcd.url, "-domain=cluster.local.", "-path-prefix=sec", *tls_flags)
    no_cert = Skydns(tls_etcd.url, "-domain=cluster.local.", "-path-prefix=sec", f"-ca-cert={tls['ca']}",
                     wait_ready=False)
    api = FakeApi().start()
    k2s = Kube2sky(api.url, tls_etcd.url, "--path-prefix=sec", "--domain=cluster.local",
                   f"--etcd-cafile={tls['ca']}", f"--etcd-certfile={tls['client_cert']}",
                   f"--etcd-keyfile={tls['client_key']}")
    try:
        m = ask(sky.port, "secret.cluster.local.", "A")
        assert [r["address"] for r in records(m.answer)] == ["10.66.0.1"]
        api.put("services", service("web", "10.0.0.7"))
        k2s.wait_ready()
        deadline = time.monotonic() + 5
        while not records(ask(sky.port, "web.default.svc.cluster.local.", "A").answer):
            assert time.monotonic() < deadline, k2s.output()
            time.sleep(0.05)
        # without a client certificate etcd refuses: never ready, SERVFAIL, still running
        time.sleep(1)
        assert no_cert.proc.poll() is None and no_cert.http("/readiness")[0] == 503
        assert rcode(ask(no_cert.port, "secret.cluster.local.", "A")) == "SERVFAIL"
        logs = sky.output() + no_cert.output() + k2s.output() + r.stderr
        for secret in ("s3cret-record-data", "PRIVATE KEY", open(tls["client_key"]).read().splitlines()[1]):
            assert secret not in logs
    finally:
        for p in (sky, no_cert, k2s):
            p.stop()
        api.stop()


def test_bad_values_are_logged_without_their_data(etcd):
    from tests import etcdkv
    etcdkv.put(etcd.url, {"/badlog/local/cluster/x": '{"host":["s3cret-host"]}',
                          "/badlog/local/cluster/y": '{"host":"s3cret-host2", oops}'})
    sky = Skydns(etcd.url, "-domain=cluster.local.", "-path-prefix=badlog")
    try:
        out = sky.output()
        assert "skipping /badlog/local/cluster/x" in out and "skipping /badlog/local/cluster/y" in out
        assert "s3cret" not in out
    finally:
        sky.stop()
        etcdkv.delete_prefix(etcd.url, "/badlog/")


def test_any_is_refused(etcd):
    sky = Skydns(etcd.url, "-domain=cluster.local.", "-path-prefix=anyq")
    try:
        assert rcode(ask(sky.port, "cluster.local.", "ANY")) == "REFUSED"
    finally:
        sky.stop()


def test_image_runs_as_a_non_root_user():
    text = (REPO / "Dockerfile").read_text()
    final = text.split("\nFROM ")[-1]
    users = re.findall(r"^USER\s+(\S+)", final, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "build-essential" not in final  # no compilers in the final stage


def test_kube2sky_against_https_api_with_a_bearer_token(etcd, tls, tmp_path):
    from tests import etcdkv
    etcdkv.delete_prefix(etcd.url, "/tok/")
    token = "t0ken-" + "x" * 20
    api = FakeApi(tls=(tls["server_cert"], tls["server_key"]), token=token).start()
    api.put("services", service("web", "10.0.0.8"))
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {{server: "{api.url}", certificate-authority: "{tls['ca']}"}}
users:
- name: kube2sky
  user: {{token: "{token}"}}
contexts:
- name: test
  context: {{cluster: test, user: kube2sky}}
current-context: test
""")
    k = Kube2sky("", etcd.url, f"--kubecfg-file={kubeconfig}", "--path-prefix=tok", "--domain=cluster.local")
    try:
        k.wait_ready()
        deadline = time.monotonic() + 5
        while not etcdkv.dump(etcd.url, "/tok/local/cluster/svc/default/web/"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # v1 lists and watches, and the discovery document that says no EndpointSlices here
        assert all(r.startswith("/api/v1/") or r == "/apis/" for r in api.requests) and "/apis/" in api.requests
        assert token not in k.output()
    finally:
        k.stop()
        api.stop()
        etcdkv.delete_prefix(etcd.url, "/tok/")
    # the wrong token is refused: never ready
    bad = tmp_path / "bad"
    bad.write_text(kubeconfig.read_text().replace(token, "wrong"))
    api = FakeApi(tls=(tls["server_cert"], tls["server_key"]), token=token).start()
    k = Kube2sky("", etcd.url, f"--kubecfg-file={bad}", "--path-prefix=tok", "--domain=cluster.local")
    try:
        time.sleep(3)
        assert k.proc.poll() is None and not k.ready()
    finally:
        k.stop()
        api.stop()
