"""The manifests wire the kube-dns ConfigMap: kube2sky follows it with its
real flags, skydns serves stub zones, the optional ConfigMap is there, and
RBAC reads ConfigMaps in kube-system only."""

import pytest
import yaml

from kube2sky.__main__ import parser as kube2sky_parser
from skydns import config as skydns_config
from skydns_common import goflags
from tests.procs import REPO

WAYS = {"legacy": ("kube-dns-rc.yaml", "kube-dns-v9-configmap.yaml", "kube-dns-v9-rbac.yaml"),
        "modern": ("kube-dns.yaml", "kube-dns-configmap.yaml", "rbac.yaml")}


def docs(way, name):
    return list(yaml.safe_load_all((REPO / "manifests" / way / name).read_text()))


@pytest.mark.parametrize("way", sorted(WAYS))
def test_configmap_flags_configmap_and_rbac(way):
    pod_file, cm_file, rbac_file = WAYS[way]
    workload = next(d for d in docs(way, pod_file) if d["kind"] in ("ReplicationController", "Deployment"))
    containers = {c["name"]: c for c in workload["spec"]["template"]["spec"]["containers"]}
    k2s = containers["kube2sky"]
    a = kube2sky_parser().parse_args(goflags.normalise(k2s["command"][1:] + k2s.get("args", [])))
    assert (a.config_map, a.config_map_namespace, a.config_dir) == ("kube-dns", "kube-system", "")
    sky = containers["skydns"]["command"]
    assert skydns_config.from_args(sky[1:], env={}).stubzones
    (cm,) = docs(way, cm_file)
    assert (cm["kind"], cm["metadata"]["name"], cm["metadata"]["namespace"], cm["data"]) == \
        ("ConfigMap", "kube-dns", "kube-system", {})
    text = (REPO / "manifests" / way / cm_file).read_text()
    assert all(f"#   {key}: |" in text for key in ("stubDomains", "upstreamNameservers", "hosts"))
    rules = [(d["kind"], d["metadata"].get("namespace"), r) for d in docs(way, rbac_file)
             if d["kind"] in ("Role", "ClusterRole") for r in d["rules"]]
    cm_rules = [(kind, ns, r) for kind, ns, r in rules if "configmaps" in r["resources"]]
    assert cm_rules == [("Role", "kube-system", {"apiGroups": [""], "resources": ["configmaps"],
                                                 "verbs": ["get", "list", "watch"]})]
    binding = next(d for d in docs(way, rbac_file) if d["kind"] == "RoleBinding")
    sa = workload["spec"]["template"]["spec"].get("serviceAccountName", "default")
    assert binding["roleRef"]["name"] == "kube-dns-config" and binding["subjects"][0]["name"] == sa
