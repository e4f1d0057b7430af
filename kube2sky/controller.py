"""Keeps the etcd tree equal to what the API server's objects call for.

Level-based: events only update the caches of Services, Endpoints and Pods
and mark units dirty; a sync then recomputes those units' records from the
caches and writes the difference.  After every (re)list and on taking the
lead, a full reconcile reads what kube2sky owns in etcd and fixes every
unit, so records of objects deleted while kube2sky was down, or while a
watch was broken, disappear.
"""

from __future__ import annotations

import asyncio
import logging

from skydns_common.bulk import without_gc

from . import records
from .plan import plan
from .records import Options, Unit
from .writer import Writer

log = logging.getLogger(__name__)

KINDS = ("services", "endpoints", "pods")


def _key(obj: dict) -> tuple[str, str]:
    """(namespace, name), lower-cased as the unit of a service is."""
    m = obj.get("metadata") or {}
    return (m.get("namespace") or "default").lower(), (m.get("name") or "").lower()


def _pod_unit(obj: dict | None) -> Unit | None:
    ip = ((obj or {}).get("status") or {}).get("podIP")
    return records.pod_unit(_key(obj)[0], ip) if ip else None


class Controller:
    def __init__(self, writer: Writer, opt: Options) -> None:
        self.writer = writer
        self.opt = opt
        self.cache: dict[str, dict[tuple[str, str], dict]] = {k: {} for k in KINDS}
        self.listed: set[str] = set()
        self.have: dict[Unit, dict[str, bytes | str]] = {}
        self.dirty: set[Unit] = set()
        self.full = True
        self.leading = False
        self.synced = asyncio.Event()

    # -- events ---------------------------------------------------------

    def on_event(self, kind: str, etype: str, obj) -> None:
        if etype == "LIST":
            self.cache[kind] = {_key(o): o for o in obj}
            self.listed.add(kind)
            self.full = True
            return
        key = _key(obj)
        old = self.cache[kind].get(key)
        if etype == "DELETED":
            self.cache[kind].pop(key, None)
        else:
            self.cache[kind][key] = obj
        if kind == "pods":
            self.dirty.update(u for u in (_pod_unit(old), _pod_unit(obj)) if u)
        else:
            self.dirty.add(records.service_unit(*key))

    @property
    def ready_to_sync(self) -> bool:
        return self.leading and self.listed == set(KINDS)

    # -- writing --------------------------------------------------------

    def want(self, units: set[Unit] | None) -> dict[Unit, records.Records]:
        services = self.cache["services"]
        if units is None:
            return records.desired(services.values(), self.cache["endpoints"], self.cache["pods"].values(), self.opt)
        out: dict[Unit, records.Records] = {}
        if any(u[0] == "pod" for u in units):
            out.update(records.pod_records(self.cache["pods"].values(), self.opt))
        for u in units:
            if u[0] == "svc":
                svc = services.get(u[1:])
                if svc is not None:
                    eps = self.cache["endpoints"].get(u[1:])
                    out[u] = records.service_records(svc, eps, self.opt)
            elif u == records.META_UNIT:
                out[u] = records.meta_records(self.opt)
        return {u: r for u, r in out.items() if u in units and r}

    async def sync(self) -> None:
        if not self.ready_to_sync:
            return
        if self.full:
            self.full = False
            self.dirty.clear()
            self.have = await self.writer.load()
            with without_gc():
                changes = plan(self.want(None), self.have)
            log.info("reconciling: %d units to change", len(changes))
        else:
            units, self.dirty = self.dirty, set()
            changes = plan(self.want(units), self.have, units)
        await self.writer.apply(changes)
        if len(changes) > 3:
            log.info("wrote %d units: %d keys put, %d deleted", len(changes),
                     sum(len(c.puts) for c in changes), sum(len(c.deletes) for c in changes))
        for change in changes:
            unit = dict(self.have.get(change.unit, {}))
            for k in change.deletes:
                unit.pop(k, None)
            unit.update(change.puts)
            if unit:
                self.have[change.unit] = unit
            else:
                self.have.pop(change.unit, None)
        self.synced.set()
