"""The fake Kubernetes API server the process tests run kube2sky against:
what it serves is checked here, in the fast tier (no etcd, no process)."""

import json
import urllib.error
import urllib.request

from tests.k8sobj import config_map


def test_fake_api_serves_config_maps_per_namespace(api):
    api.put("configmaps", config_map("kube-dns", {"hosts": "10.0.0.1 a\n"}))
    api.put("configmaps", config_map("other", {}))
    api.put("configmaps", config_map("kube-dns", {}, ns="default"))

    def get(path):
        try:
            with urllib.request.urlopen(api.url + path, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
    status, one = get("/api/v1/namespaces/kube-system/configmaps/kube-dns")
    assert status == 200 and one["data"] == {"hosts": "10.0.0.1 a\n"}
    assert get("/api/v1/namespaces/kube-system/configmaps/nope")[0] == 404
    status, listing = get("/api/v1/namespaces/kube-system/configmaps?fieldSelector=metadata.name%3Dkube-dns")
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in listing["items"]] == [("kube-system", "kube-dns")]
    assert len(get("/api/v1/namespaces/kube-system/configmaps")[1]["items"]) == 2
