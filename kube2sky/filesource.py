"""Services, Endpoints and Pods read from a file instead of an API server.

``kubectl get svc,endpoints,pods -A -o yaml`` (or ``svc,endpointslices,pods``) from a cluster one cannot
reach (or a hand-written file) becomes the same LIST events the API watch
produces, so the records of that cluster can be written to etcd and moved.
The file is read again whenever it changes; every read is a full listing,
which the controller reconciles like a relist.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any, Iterable, Iterator

import yaml

from . import slices

log = logging.getLogger(__name__)

KIND_OF = {"Service": "services", "Endpoints": "endpoints", "Pod": "pods"}


def parse(text: str) -> dict[str, list[dict]]:
    """Objects by kind from YAML or JSON: a ``List`` (kubectl's ``-o yaml``),
    several documents, or single objects."""
    out: dict[str, list[dict]] = {k: [] for k in KIND_OF.values()}
    docs: Iterable[Any]
    found_slices: list[dict] = []
    try:
        docs = [json.loads(text)]  # kubectl -o json, and much faster to read than YAML
    except ValueError:
        docs = yaml.safe_load_all(text)
    for doc in docs:
        if not doc:
            continue
        if not isinstance(doc, dict):
            raise ValueError("expected Kubernetes objects (mappings with a kind)")
        items = doc.get("items") if doc.get("kind", "").endswith("List") else [doc]
        for obj in items or []:
            kind = KIND_OF.get((obj or {}).get("kind", ""))
            if kind:
                obj.setdefault("metadata", {}).setdefault("namespace", "default")
                out[kind].append(obj)
            elif (obj or {}).get("kind") == "EndpointSlice":
                obj.setdefault("metadata", {}).setdefault("namespace", "default")
                found_slices.append(obj)
    if found_slices:  # a service's slices stand for its Endpoints, as they do from an API server
        merged = slices.Merger().listed(found_slices)
        have = {(e["metadata"]["namespace"], e["metadata"]["name"]) for e in merged}
        out["endpoints"] = [e for e in out["endpoints"]
                            if (e["metadata"]["namespace"], e["metadata"].get("name")) not in have] + merged
    return out


def watch_file(path: str, stop: threading.Event, interval: float = 1.0) -> Iterator[dict[str, list[dict]]]:
    """Yields the file's objects now and after every change to it."""
    seen: object = None  # the file's (mtime, size, inode), or "missing"
    while not stop.is_set():
        try:
            st = os.stat(path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError as exc:
            if seen != "missing":
                log.warning("cannot read %s: %s", path, exc)
                seen = "missing"
            stop.wait(interval)
            continue
        if stamp != seen:
            try:
                with open(path, encoding="utf-8") as f:
                    objects = parse(f.read())
            except (OSError, ValueError, yaml.YAMLError) as exc:
                log.error("ignoring %s: %s", path, str(exc).splitlines()[0])
            else:
                log.info("read %s: %s", path, ", ".join(f"{len(v)} {k}" for k, v in objects.items()))
                yield objects
            seen = stamp
        stop.wait(interval)
