"""Custom host records resolved as a pod resolves them: glibc's stub
resolver with a pod's resolv.conf (search list, ndots:5), in a network and
mount namespace the test makes for itself (tests/podns.py); the host's
network and /etc are never touched."""

import json
import os
import subprocess
import sys

import pytest

from tests.procs import REPO

pytestmark = [pytest.mark.process]


def etc(name):
    with open(f"/etc/{name}", "rb") as f:
        return f.read()


def test_getent_resolves_custom_hosts_from_a_pod(tmp_path):
    before = etc("resolv.conf"), etc("nsswitch.conf")
    r = subprocess.run(["unshare", "--net", "--mount", "--propagation", "private",
                        sys.executable, "-m", "tests.podns", str(tmp_path)],
                       capture_output=True, text=True, timeout=180, cwd=REPO,
                       env=dict(os.environ, PODNS_PARENT_NET=os.readlink("/proc/self/ns/net")))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    # the ConfigMap's bare names, found through the search list
    assert got["registry"] == [0, "10.0.0.1        registry.cluster.local"]
    assert got["paas-nacos-register"] == [0, "10.0.0.1        paas-nacos-register.cluster.local"]
    assert got["nexus.tools"] == [0, "10.0.0.3        nexus.tools.cluster.local"]
    # a Service, and the README's `skydnsctl hosts sync FILE` (no --zone)
    assert got["web"] == [0, "10.0.0.7        web.default.svc.cluster.local"]
    assert got["nn1"] == [0, "10.2.0.1        nn1.cluster.local"]
    assert got["dn1.hadoop"] == [0, "10.2.0.1        dn1.hadoop.cluster.local"]
    assert got["nothere"][0] == 2  # not found
    # an edit of the hosts key through the API, seen by the pod's resolver
    assert got["registry-after-edit"] == [0, "10.0.0.2        registry.cluster.local"]
    # the host's files are as they were
    assert (etc("resolv.conf"), etc("nsswitch.conf")) == before
