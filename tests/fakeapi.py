"""A fake Kubernetes API server, faithful to list/watch, for kube2sky's tests.

Serves ``/api/v1/{services,endpoints,pods,configmaps}``, ConfigMaps per
namespace (``/api/v1/namespaces/NS/configmaps``, with
``fieldSelector=metadata.name=NAME``; ``.../configmaps/NAME`` is a GET of
one object, 404 when there is none) and, when asked,
``/apis/discovery.k8s.io/v1/endpointslices``, with the discovery documents
``/api`` and ``/apis`` that tell which: a list carries the store's
resourceVersion; ``watch=true`` (or ``1``) streams newline-delimited JSON
events in HTTP/1.1 chunks from a resourceVersion on, sends BOOKMARKs when
asked (``allowWatchBookmarks``), ends the stream after ``timeoutSeconds``,
and answers a version older than its retained history with a 410 ``Expired``
ERROR event.  Tests change objects (each change bumps the resourceVersion),
compact the history, drop open streams, black-hole them (silent, never
ended, connection kept: a connection that died without a FIN), make
requests fail with a status, or restart it with a new history.  Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import copy
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

KINDS = {"services": "Service", "endpoints": "Endpoints", "pods": "Pod", "configmaps": "ConfigMap",
         "endpointslices": "EndpointSlice"}
#: kinds also served per namespace: /api/v1/namespaces/NS/KIND[/NAME], with fieldSelector=metadata.name=...
NAMESPACED = ("configmaps",)

# -- EndpointSlices and the discovery documents -------------------------------
#: kinds outside the core group: kind -> (group, version); served only when asked
GROUPS = {"endpointslices": ("discovery.k8s.io", "v1")}


def resource(segs: list[str], slices: bool) -> str | None:
    """The kind a list/watch path names (``/api/v1/<kind>`` or
    ``/apis/<group>/<version>/<kind>``), or None."""
    if len(segs) == 3 and segs[:2] == ["api", "v1"] and segs[2] in KINDS and segs[2] not in GROUPS:
        return segs[2]
    if slices and len(segs) == 4 and segs[0] == "apis" and GROUPS.get(segs[3]) == tuple(segs[1:3]):
        return segs[3]
    return None


def discovery(segs: list[str], slices: bool) -> dict | None:
    """``/api`` and ``/apis``: the versions and groups this server serves."""
    if segs == ["api"]:
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
    if segs == ["apis"]:
        served = {("apps", "v1")} | (set(GROUPS.values()) if slices else set())
        groups = [{"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                   "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}} for g, v in sorted(served)]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    return None


def api_version(kind: str) -> str:
    return "/".join(GROUPS[kind]) if kind in GROUPS else "v1"


class FakeApi:
    def __init__(self, tls: tuple[str, str] | None = None, token: str | None = None, slices: bool = False) -> None:
        """``tls``: (certificate, key) files to serve HTTPS; ``token``: the
        bearer token every request must carry; ``slices``: serve
        ``discovery.k8s.io/v1`` EndpointSlices and list that group in
        ``/apis`` (off: a cluster of before Kubernetes 1.21)."""
        self.tls = tls
        self.token = token
        self.slices = slices
        self.forbidden: set[str] = set()  # kinds answered 403, as RBAC without the grant would
        self.absent: set[str] = set()  # kinds answered 404, as a server from before the kind existed would
        self.cond = threading.Condition()
        self.rv = 100
        self.objects: dict[str, dict[tuple[str, str], dict]] = {k: {} for k in KINDS}
        self.history: list[tuple[int, str, str, dict]] = []
        self.oldest = self.rv  # versions below this are gone (410)
        self.generation = 0  # bumped to drop every open stream
        self.silent: set[int] = set()  # generations of black-holed streams
        self.failures: list[int] = []  # status codes for the next requests
        self.stopped = False
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "FakeApi":
        self.thread.start()
        return self

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.generation += 1
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # -- what tests do --------------------------------------------------

    def put(self, kind: str, obj: dict) -> None:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        key = (meta["namespace"], meta["name"])
        with self.cond:
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            etype = "MODIFIED" if key in self.objects[kind] else "ADDED"
            self.objects[kind][key] = obj
            self.history.append((self.rv, kind, etype, obj))
            self.cond.notify_all()

    def delete(self, kind: str, namespace: str, name: str) -> None:
        with self.cond:
            obj = self.objects[kind].pop((namespace, name), None)
            if obj is None:
                return
            self.rv += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self.history.append((self.rv, kind, "DELETED", obj))
            self.cond.notify_all()

    def compact(self) -> None:
        """Forget the history: any watch from an older version gets 410."""
        with self.cond:
            self.history.clear()
            self.oldest = self.rv + 1

    def drop_streams(self) -> None:
        with self.cond:
            self.generation += 1
            self.cond.notify_all()

    def blackhole_streams(self) -> None:
        """Open streams send nothing more and never end; new ones work."""
        with self.cond:
            self.silent.add(self.generation)
            self.generation += 1
            self.cond.notify_all()

    def fail_next(self, *codes: int) -> None:
        with self.cond:
            self.failures.extend(codes)

    def restart(self, objects: dict[str, list[dict]]) -> None:
        """Come back with a different history: new versions, new objects."""
        with self.cond:
            self.generation += 1
            self.rv += 1000
            self.history.clear()
            self.objects = {k: {} for k in KINDS}
            self.oldest = self.rv + 1
            self.cond.notify_all()
        for kind, objs in objects.items():
            for o in objs:
                self.put(kind, o)
        with self.cond:
            self.history.clear()
            self.oldest = self.rv + 1

    # -- HTTP -----------------------------------------------------------

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                api.requests.append(self.path)
                if api.token and self.headers.get("Authorization") != f"Bearer {api.token}":
                    return self._json(401, {"kind": "Status", "code": 401, "reason": "Unauthorized"})
                segs = parts.path.strip("/").split("/")
                doc = discovery(segs, api.slices)
                if doc is not None:
                    return self._json(200, doc)
                match = lambda obj: True  # noqa: E731 - every object of the kind
                if len(segs) in (5, 6) and segs[:3] == ["api", "v1", "namespaces"] and segs[4] in NAMESPACED:
                    segs, match, one = self._namespaced(segs, q)
                    if one is not None:
                        return self._one(segs[2], one)
                kind = resource(segs, api.slices)
                if kind is None:
                    return self._json(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
                if kind in api.absent:
                    return self._json(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
                if kind in api.forbidden:
                    return self._json(403, {"kind": "Status", "code": 403, "reason": "Forbidden"})
                with api.cond:
                    code = api.failures.pop(0) if api.failures else None
                if code is not None:
                    return self._json(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                             "code": code, "reason": "InternalError", "message": "injected"})
                if q.get("watch") in ("true", "1"):
                    return self._watch(kind, q, match)
                with api.cond:
                    # stored objects are never changed (put and delete work on copies):
                    # a listing serialises them as they are, without copying 150,000 pods
                    items = [o for _, o in sorted(api.objects[kind].items()) if match(o)]
                    rv = api.rv
                self._json(200, {"kind": KINDS[kind] + "List", "apiVersion": api_version(kind),
                                 "metadata": {"resourceVersion": str(rv)}, "items": items})

            def _namespaced(self, segs, q):
                """/api/v1/namespaces/NS/KIND[/NAME] -> (/api/v1/KIND, a filter, NAME or None)."""
                namespace, kind = segs[3], segs[4]
                want = {"metadata.namespace": namespace}
                for term in filter(None, (q.get("fieldSelector") or "").split(",")):
                    field, _, value = term.replace("==", "=").partition("=")
                    want[field] = value

                def match(obj):
                    meta = obj.get("metadata") or {}
                    return all(meta.get(f.split(".", 1)[1]) == v for f, v in want.items())
                return ["api", "v1", kind], match, (namespace, segs[5]) if len(segs) == 6 else None

            def _one(self, kind, key):
                with api.cond:
                    obj = copy.deepcopy(api.objects[kind].get(key))
                if obj is None:
                    return self._json(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                                            "reason": "NotFound", "message": f'{kind} "{key[1]}" not found'})
                self._json(200, obj)

            def _json(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _chunk(self, event) -> None:
                data = json.dumps(event).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _watch(self, kind, q, match=lambda obj: True):
                since = int(q.get("resourceVersion") or 0)
                timeout = float(q.get("timeoutSeconds") or 300)
                bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                deadline = time.monotonic() + timeout
                try:
                    with api.cond:
                        gen = api.generation
                        if since and since + 1 < api.oldest:
                            self._chunk({"type": "ERROR", "object": {
                                "kind": "Status", "apiVersion": "v1", "status": "Failure",
                                "message": f"too old resource version: {since} ({api.oldest})",
                                "reason": "Expired", "code": 410}})
                            return self._end()
                        last_bookmark = time.monotonic()
                        while True:
                            if gen in api.silent:
                                if api.stopped:
                                    return
                                api.cond.wait(0.5)
                                continue
                            for rv, k, etype, obj in api.history:
                                if rv > since and k == kind and match(obj):
                                    self._chunk({"type": etype, "object": obj})
                            since = max(since, api.rv)
                            now = time.monotonic()
                            if api.generation != gen:
                                return  # dropped mid-stream: no terminating chunk
                            if now >= deadline:
                                return self._end()
                            if bookmarks and now - last_bookmark > 0.5:
                                self._chunk({"type": "BOOKMARK", "object": {
                                    "kind": KINDS[kind], "apiVersion": api_version(kind),
                                    "metadata": {"resourceVersion": str(api.rv)}}})
                                last_bookmark = now
                            api.cond.wait(min(0.5, deadline - now))
                except (BrokenPipeError, ConnectionResetError):
                    return
                finally:
                    self.close_connection = True

            def _end(self):
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        return Handler
