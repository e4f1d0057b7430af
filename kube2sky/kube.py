"""Listing and watching the API server with the official ``kubernetes`` client.

``list_and_watch`` is a generator in the style of kopf's watcher: it lists,
yields the listing, watches from the list's resourceVersion (following
BOOKMARKs and restarting the watch when the server ends it after
``timeoutSeconds``), and *returns* on 410 Gone so the caller lists again.
Objects stay plain JSON dicts: the record logic needs a handful of fields,
and skipping the client's model classes keeps a large listing cheap.  The
client is synchronous, so each kind runs this in a thread.  Endpoints are
read from EndpointSlices where the API server serves them (:mod:`.slices`).

A watch whose connection silently died is noticed in bounded time: TCP
keepalive on every connection to the API server (a peer that is gone stops
acknowledging the probes: about 25 s), and a read deadline a few seconds
past the watch's own ``timeoutSeconds``, after which the server would have
ended the stream (a server that keeps the connection but sends nothing).
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import socket
import threading
from typing import Any, Iterator

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.watch.watch import iter_resp_lines

from . import metrics, slices

log = logging.getLogger(__name__)

LISTERS = {
    "services": "list_service_for_all_namespaces",
    "endpoints": "list_endpoints_for_all_namespaces",
    "pods": "list_pod_for_all_namespaces",
    "configmaps": "list_namespaced_config_map",  # with namespace= and field_selector= (customsource)
    "endpointslices": "list_endpoint_slice_for_all_namespaces",  # discovery.k8s.io/v1
}
SLICES_GROUP_VERSION = "discovery.k8s.io/v1"


#: seconds past the watch's timeoutSeconds before a silent stream counts as dead
WATCH_GRACE = 5
#: TCP keepalive on the API connection: probes after 10 s idle, every 5 s,
#: the connection dropped after 3 unanswered (or 25 s of unacknowledged data)
KEEPALIVE = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1), (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)] + [
    (socket.IPPROTO_TCP, getattr(socket, name), value)
    for name, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3), ("TCP_USER_TIMEOUT", 25000))
    if hasattr(socket, name)]


def api_client(master_url: str = "", kubecfg: str = "") -> client.CoreV1Api:
    """Plain ``http://host:port`` with no credentials, a kubeconfig file, or
    the pod's service account, in that order of preference."""
    cfg = client.Configuration()
    if kubecfg:
        config.load_kube_config(config_file=kubecfg, client_configuration=cfg)
        if master_url:
            cfg.host = master_url
    elif master_url:
        cfg.host = master_url.rstrip("/")
    else:
        config.load_incluster_config(client_configuration=cfg)
    cfg.socket_options = KEEPALIVE
    return client.CoreV1Api(client.ApiClient(cfg))


def serves_slices(api: client.CoreV1Api) -> bool:
    """Whether the API server serves EndpointSlices, from its discovery
    document of API groups (``/apis``); a server without one serves none."""
    try:
        resp: Any = client.ApisApi(api.api_client).get_api_versions(_preload_content=False, _request_timeout=30)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    groups = json.loads(resp.data).get("groups") or []
    return any(v.get("groupVersion") == SLICES_GROUP_VERSION for g in groups for v in g.get("versions") or [])


def list_and_watch(api: client.CoreV1Api, kind: str, stop: threading.Event,
                   timeout: int = 60, **selector) -> Iterator[tuple[str, Any, str]]:
    """Yields ("LIST", items, rv), then (ADDED|MODIFIED|DELETED, object, rv).
    Endpoints come from EndpointSlices, merged per service, on a cluster
    that serves them (asked again at every listing), else from v1 Endpoints.
    ``selector``: more arguments of the lister (namespace, field_selector)."""
    if kind == "endpoints" and serves_slices(api):
        events = _list_and_watch(api, "endpointslices", stop, timeout)
        try:
            first = next(events)
        except ApiException as exc:
            if exc.status != 403:
                raise
            log.warning("endpoints: not allowed to list EndpointSlices (%s); reading v1 Endpoints "
                        "(grant list, watch on discovery.k8s.io endpointslices)", exc.reason)
        else:
            log.info("endpoints: reading EndpointSlices (%s)", SLICES_GROUP_VERSION)
            yield from slices.as_endpoints(itertools.chain([first], events))
            return
    yield from _list_and_watch(api, kind, stop, timeout, **selector)


def _list_and_watch(api: client.CoreV1Api, kind: str, stop: threading.Event,
                    timeout: int, **selector) -> Iterator[tuple[str, Any, str]]:
    owner = client.DiscoveryV1Api(api.api_client) if kind == "endpointslices" else api
    fn = functools.partial(getattr(owner, LISTERS[kind]), **selector)
    resp = fn(_preload_content=False, _request_timeout=30)
    data = json.loads(resp.data)
    rv = data["metadata"]["resourceVersion"]
    metrics.event(kind, "LIST")
    yield "LIST", data.get("items") or [], rv
    first = True
    while not stop.is_set():
        if not first:
            metrics.WATCH_RESTARTS.labels(kind).inc()
        first = False
        try:
            resp = fn(watch=True, resource_version=rv, timeout_seconds=timeout, allow_watch_bookmarks=True,
                      _preload_content=False, _request_timeout=(10, timeout + WATCH_GRACE))
        except ApiException as exc:
            if exc.status == 410:
                log.info("%s: resourceVersion %s is gone; listing again", kind, rv)
                return
            raise
        try:
            for line in iter_resp_lines(resp):
                if not line:
                    continue
                event = json.loads(line)
                etype, obj = event.get("type"), event.get("object") or {}
                if etype == "ERROR":
                    if obj.get("code") == 410:
                        log.info("%s: watch from %s expired; listing again", kind, rv)
                        return
                    raise ApiException(status=obj.get("code"), reason=obj.get("message"))
                rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                if etype in ("ADDED", "MODIFIED", "DELETED"):
                    metrics.event(kind, etype)
                    yield etype, obj, rv
                if stop.is_set():
                    return
        finally:
            resp.close()
            resp.release_conn()
