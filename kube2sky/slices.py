"""EndpointSlices (``discovery.k8s.io/v1``) -> the v1 Endpoints of their Service.

Current Kubernetes deprecates v1 Endpoints; a service's endpoints come as
several EndpointSlices, tied to it by the ``kubernetes.io/service-name``
label.  Rather than teach the record rules a second input shape, the slices
of one service are merged here, at the edge, into the Endpoints object the
rules already read (one subset per slice: its ports, its ready addresses,
and the others as ``notReadyAddresses``), so both paths give the same
records by construction.  :class:`Merger` keeps the slices seen so far and
turns each slice event into an event for the merged Endpoints object.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

SERVICE_LABEL = "kubernetes.io/service-name"
ADDRESS_TYPES = ("IPv4", "IPv6")  # FQDN slices hold names, not addresses

Key = tuple[str, str]


def service_of(slice_: Mapping) -> Key | None:
    """(namespace, service name) a slice belongs to, or None (a slice no service owns)."""
    meta = slice_.get("metadata") or {}
    name = (meta.get("labels") or {}).get(SERVICE_LABEL)
    return ((meta.get("namespace") or "default"), name) if name else None


def merge(key: Key, slices: Iterable[Mapping]) -> dict:
    """The v1 Endpoints object equivalent to a service's slices."""
    subsets = []
    for s in sorted(slices, key=lambda s: (s.get("metadata") or {}).get("name") or ""):
        if s.get("addressType", "IPv4") not in ADDRESS_TYPES:
            continue
        ready: list[dict[str, Any]] = []
        not_ready: list[dict[str, Any]] = []
        for ep in s.get("endpoints") or []:
            # a missing ready condition means ready (the API's own rule)
            is_ready = (ep.get("conditions") or {}).get("ready") is not False
            for ip in ep.get("addresses") or []:
                addr = {"ip": ip, "hostname": ep["hostname"]} if ep.get("hostname") else {"ip": ip}
                (ready if is_ready else not_ready).append(addr)
        subset: dict = {"addresses": ready, "ports": [dict(p) for p in s.get("ports") or []]}
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        subsets.append(subset)
    return {"kind": "Endpoints", "apiVersion": "v1",
            "metadata": {"namespace": key[0], "name": key[1]}, "subsets": subsets}


class Merger:
    """Slice events in, Endpoints events out."""

    def __init__(self) -> None:
        self.slices: dict[Key, dict[str, Mapping]] = {}  # service -> slice name -> slice
        self.owner: dict[Key, Key] = {}  # (namespace, slice name) -> service

    def listed(self, items: Iterable[Mapping]) -> list[dict]:
        self.slices, self.owner = {}, {}
        for s in items:
            self._put(s)
        return [merge(k, v.values()) for k, v in sorted(self.slices.items())]

    def event(self, etype: str, s: Mapping) -> list[tuple[str, dict]]:
        """The Endpoints events one slice event makes (two when a slice moved services)."""
        meta = s.get("metadata") or {}
        ident = (meta.get("namespace") or "default", meta.get("name") or "")
        touched: set[Key | None] = {self.owner[ident]} if ident in self.owner else set()
        self._drop(ident)
        if etype != "DELETED":
            touched.add(self._put(s))
        out = []
        for key in sorted(k for k in touched if k is not None):
            if key in self.slices:
                out.append(("MODIFIED", merge(key, self.slices[key].values())))
            else:
                out.append(("DELETED", merge(key, ())))
        return out

    def _put(self, s: Mapping) -> Key | None:
        key = service_of(s)
        if key is None:
            return None
        meta = s.get("metadata") or {}
        ident = (meta.get("namespace") or "default", meta.get("name") or "")
        self.slices.setdefault(key, {})[ident[1]] = s
        self.owner[ident] = key
        return key

    def _drop(self, ident: Key) -> None:
        key = self.owner.pop(ident, None)
        if key is not None:
            group = self.slices.get(key, {})
            group.pop(ident[1], None)
            if not group:
                self.slices.pop(key, None)


def as_endpoints(events: Iterable[tuple[str, Any, str]]) -> Iterator[tuple[str, Any, str]]:
    """``list_and_watch`` of EndpointSlices, seen as ``list_and_watch`` of Endpoints."""
    merger = Merger()
    for etype, obj, rv in events:
        if etype == "LIST":
            yield "LIST", merger.listed(obj), rv
        else:
            for out_type, endpoints in merger.event(etype, obj):
                yield out_type, endpoints, rv
