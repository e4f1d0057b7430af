"""Listing and watching the API server with the official ``kubernetes`` client.

``list_and_watch`` is a generator in the style of kopf's watcher: it lists,
yields the listing, watches from the list's resourceVersion (following
BOOKMARKs and restarting the watch when the server ends it after
``timeoutSeconds``), and *returns* on 410 Gone so the caller lists again.
Objects stay plain JSON dicts: the record logic needs a handful of fields,
and skipping the client's model classes keeps a large listing cheap.  The
client is synchronous, so each kind runs this in a thread.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Iterator

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.watch.watch import iter_resp_lines

log = logging.getLogger(__name__)

LISTERS = {
    "services": "list_service_for_all_namespaces",
    "endpoints": "list_endpoints_for_all_namespaces",
    "pods": "list_pod_for_all_namespaces",
}


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
    return client.CoreV1Api(client.ApiClient(cfg))


def list_and_watch(api: client.CoreV1Api, kind: str, stop: threading.Event,
                   timeout: int = 60) -> Iterator[tuple[str, object, str]]:
    """Yields ("LIST", items, rv), then (ADDED|MODIFIED|DELETED, object, rv)."""
    fn = getattr(api, LISTERS[kind])
    resp = fn(_preload_content=False, _request_timeout=30)
    data = json.loads(resp.data)
    rv = data["metadata"]["resourceVersion"]
    yield "LIST", data.get("items") or [], rv
    while not stop.is_set():
        try:
            resp = fn(watch=True, resource_version=rv, timeout_seconds=timeout, allow_watch_bookmarks=True,
                      _preload_content=False, _request_timeout=(10, timeout + 15))
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
                    yield etype, obj, rv
                if stop.is_set():
                    return
        finally:
            resp.close()
            resp.release_conn()
