"""Kubernetes objects as the API server returns them, from short forms."""


def service(name, cluster_ip, ports=(), ns="default", **spec):
    return {"kind": "Service", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": cluster_ip, "ports": [dict(p) for p in ports], **spec}}


def endpoints(name, subsets, ns="default", annotations=None):
    return {"kind": "Endpoints", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": ns, "annotations": annotations or {}}, "subsets": subsets}


def endpoint_slice(name, service, endpoints, ports=(), ns="default", address_type="IPv4"):
    """``endpoints``: (addresses, ready or None, hostname or None) triples."""
    eps = []
    for addresses, ready, hostname in endpoints:
        ep = {"addresses": list(addresses), "conditions": {} if ready is None else {"ready": ready}}
        if hostname:
            ep["hostname"] = hostname
        eps.append(ep)
    return {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1", "addressType": address_type,
            "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": service}},
            "endpoints": eps, "ports": [dict(p) for p in ports]}


def pod(name, ip, ns="default"):
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns},
            "status": {"podIP": ip} if ip else {}}


def from_case(obj):
    """The conformance files' flat objects -> (API kind, object)."""
    kind = obj["kind"]
    if kind == "Service":
        return "services", service(obj["name"], obj.get("clusterIP", ""), obj.get("ports") or [], obj["namespace"])
    if kind == "Endpoints":
        return "endpoints", endpoints(obj["name"], obj.get("subsets") or [], obj["namespace"])
    if kind == "Pod":
        return "pods", pod(obj["name"], obj.get("podIP", ""), obj["namespace"])
    raise ValueError(kind)


def config_map(name, data, ns="kube-system"):
    return {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns}, "data": dict(data)}
