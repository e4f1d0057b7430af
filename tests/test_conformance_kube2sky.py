"""The original kube2sky's own test table (shared/conformance/kube2sky_cases.json):
each step's objects go to the fake API server, kube2sky runs as a process
against it and a real etcd, and the svc/ and pod/ subtrees must equal the
step's derived_etcd_state byte for byte.  Everything else kube2sky writes
must be one of its additions (PTRs, dns-version)."""

import json
import time

import pytest

from tests import etcdkv
from tests.fakeapi import FakeApi
from tests.k8sobj import from_case
from tests.procs import SHARED, Kube2sky

pytestmark = [pytest.mark.etcd, pytest.mark.process]

CASES_FILE = SHARED / "conformance" / "kube2sky_cases.json"
DATA = json.loads(CASES_FILE.read_text())
CASES = [c for s in DATA["suites"] for c in s["cases"]]
D = "/skydns/local/cluster"


@pytest.fixture(scope="module")
def stack(etcd):
    etcdkv.delete_prefix(etcd.url, "/skydns/")
    api = FakeApi().start()
    k2s = Kube2sky(api.url, etcd.url, "--domain=cluster.local.")
    k2s.wait_ready()
    yield api, k2s
    k2s.stop()
    api.stop()
    etcdkv.delete_prefix(etcd.url, "/skydns/")


def state(url):
    everything = etcdkv.dump(url, "/skydns/")
    core = {k: v.decode() for k, v in everything.items() if k.startswith((f"{D}/svc/", f"{D}/pod/"))}
    extra = {k for k in everything if k not in core}
    return core, extra


def converge(url, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        core, extra = state(url)
        if core == want or time.monotonic() > deadline:
            return core, extra
        time.sleep(0.02)


@pytest.mark.parametrize("case", CASES, ids=[c["test"] for c in CASES])
def test_case(etcd, stack, case):
    api, k2s = stack
    checked = 0
    for step in case["steps"]:
        kind, obj = from_case(step["object"])
        action = step["action"]
        if action.startswith(("removeService", "handlePodDelete")):
            api.delete(kind, obj["metadata"]["namespace"], obj["metadata"]["name"])
        else:
            api.put(kind, obj)
        if "derived_etcd_state" in step:
            want = step["derived_etcd_state"]
            core, extra = converge(etcd.url, want)
            assert core == want, f"after {action}"
            assert all(k == f"{D}/dns-version" or k.startswith("/skydns/arpa/") for k in extra), extra
            checked += 1
    assert checked > 0
    for kind, objs in list(api.objects.items()):
        for ns, name in list(objs):
            api.delete(kind, ns, name)
    assert converge(etcd.url, {})[0] == {}
