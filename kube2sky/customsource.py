"""Where the kube-dns ConfigMap's data comes from: the API or a mounted copy.

``--config-map=NAME`` lists and watches that one object
(``fieldSelector=metadata.name=NAME`` in ``--config-map-namespace``), so a
change arrives with the watch event.  ``--config-dir=DIR`` reads a mounted
copy: the kubelet's atomic writer keeps the files in a timestamped directory,
``..data`` a symlink to it and ``KEY -> ..data/KEY``, and swaps ``..data``
on update; the directory is polled (one readlink) a few times a second and a
file vanishing mid-swap means "read again".  Both give the same thing: the
ConfigMap's ``data`` (a dict), or None when there is no ConfigMap.  An API
server from before Kubernetes 1.2 has no ConfigMaps at all (the list is a
404): that is "no ConfigMap" too, asked again every :data:`ABSENT_RECHECK`
seconds, without a warning each time.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Callable, Iterator

from kubernetes.client.rest import ApiException
from tenacity import Retrying, retry_if_exception_type

from skydns_common.retry import backoff

from . import kube
from .customdns import SECTIONS

log = logging.getLogger(__name__)

Post = Callable[["dict[str, str] | None"], None]

#: seconds between looks for ConfigMaps on an API server that serves none (404)
ABSENT_RECHECK = 60.0


def pump_api(api, namespace: str, name: str, post: Post, stop: threading.Event, timeout: int) -> None:
    """Thread body: list and watch the one ConfigMap forever, posting its
    data (None while it does not exist, or the server serves no ConfigMaps)."""
    absent = False
    for attempt in Retrying(wait=backoff(0.2, 10, 0.3), retry=retry_if_exception_type(Exception),
                            before_sleep=lambda rs: log.warning("configmap %s/%s: %s; listing again", namespace, name,
                                                                str(rs.outcome and rs.outcome.exception())[:200])):
        with attempt:
            while not stop.is_set():
                try:
                    for etype, obj, _ in kube.list_and_watch(api, "configmaps", stop, timeout, namespace=namespace,
                                                             field_selector=f"metadata.name={name}"):
                        if etype == "LIST":
                            absent = False
                            mine = [o for o in obj if (o.get("metadata") or {}).get("name") == name]
                            post(_data(mine[0]) if mine else None)
                        elif (obj.get("metadata") or {}).get("name") == name:
                            post(None if etype == "DELETED" else _data(obj))
                except ApiException as exc:
                    if exc.status != 404:
                        raise
                    if not absent:
                        absent = True
                        log.info("configmap %s/%s: the API server serves no ConfigMaps (Kubernetes before 1.2): "
                                 "none applied; asking again every %g s", namespace, name, ABSENT_RECHECK)
                        post(None)
                    stop.wait(ABSENT_RECHECK)
        if stop.is_set():
            return


def _data(obj: dict) -> dict[str, str]:
    return {k: v for k, v in (obj.get("data") or {}).items() if isinstance(v, str)}


def read_dir(path: str) -> tuple[object, dict[str, str] | None]:
    """(a stamp that changes with the contents, the data); data None when the
    directory does not exist.  Raises FileNotFoundError when ``..data`` was
    swapped while reading (the caller reads again)."""
    if not os.path.isdir(path):
        return None, None
    link = os.path.join(path, "..data")
    if os.path.islink(link):
        target = os.readlink(link)
        base = os.path.join(path, target)
        data = {}
        for key in SECTIONS:
            try:
                with open(os.path.join(base, key), encoding="utf-8") as f:
                    data[key] = f.read()
            except FileNotFoundError:
                if not os.path.isdir(base):
                    raise  # the timestamped directory went: swapped under us
        if os.readlink(link) != target:
            raise FileNotFoundError(f"{link} was swapped while reading")
        return ("atomic", target), data
    stamps, data = [], {}
    for key in SECTIONS:
        p = os.path.join(path, key)
        try:
            st = os.stat(p)
            with open(p, encoding="utf-8") as f:
                data[key] = f.read()
        except FileNotFoundError:
            continue
        stamps.append((key, st.st_mtime_ns, st.st_ino, st.st_size))
    return ("plain", tuple(stamps)), data


def watch_dir(path: str, stop: threading.Event, interval: float = 0.2) -> Iterator[dict[str, str] | None]:
    """Yields the directory's data now and after every change."""
    seen: object = object()
    while not stop.is_set():
        try:
            stamp, data = read_dir(path)
        except FileNotFoundError:
            stop.wait(0.01)
            continue
        except (OSError, UnicodeDecodeError) as exc:
            if seen != ("error", str(exc)):  # once per distinct failure; the last data stays applied
                log.error("cannot read %s: %s; keeping what it gave before", path, exc)
                seen = ("error", str(exc))
            stop.wait(interval)
            continue
        if stamp != seen:
            seen = stamp
            yield data
        stop.wait(interval)


def pump_dir(path: str, post: Post, stop: threading.Event) -> None:
    for data in watch_dir(path, stop):
        post(data)
