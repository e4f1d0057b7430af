"""Keeps the etcd tree equal to what the API server's objects call for.

Level-based: events only update the caches of Services, Endpoints and Pods
and mark units dirty; a sync then recomputes those units' records from the
caches and writes the difference.  After every (re)list and on taking the
lead, a full reconcile reads what kube2sky owns in etcd and fixes every
unit, so records of objects deleted while kube2sky was down, or while a
watch was broken, disappear.

The controller also owns its life: :meth:`Controller.run` starts the
sources (:mod:`kube2sky.sources`), takes part in the election and applies
events until cancelled, with any tasks that run beside it (the ConfigMap's);
:meth:`~Controller.lead` and :meth:`~Controller.lose` follow the election;
:meth:`~Controller.ready` is the readiness probe.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Callable, Coroutine, Iterable

from skydns_common.bulk import without_gc

from . import metrics, records
from .leader import Election
from .plan import Have, applied, plan
from .records import Options, Unit
from .sources import Source
from .writer import NotLeader, Writer

log = logging.getLogger(__name__)

KINDS = ("services", "endpoints", "pods")


def _key(obj: dict | None) -> tuple[str, str]:
    """(namespace, name), lower-cased as the unit of a service is."""
    m = (obj or {}).get("metadata") or {}
    return (m.get("namespace") or "default").lower(), (m.get("name") or "").lower()


def _pod_unit(obj: dict | None) -> Unit | None:
    ip = ((obj or {}).get("status") or {}).get("podIP")
    return records.pod_unit(_key(obj)[0], ip) if ip else None


class Controller:
    def __init__(self, writer: Writer, opt: Options, election: Election | None = None) -> None:
        self.writer = writer
        self.opt = opt
        self.election = election
        self.cache: dict[str, dict[tuple[str, str], dict]] = {k: {} for k in KINDS}
        self.listed: set[str] = set()
        self.have: Have = {}
        self.dirty: set[Unit] = set()
        self.full = True
        self.leading = False
        self.synced = asyncio.Event()
        #: events posted by the sources (kind, type, object, time.monotonic() when posted), and wake-ups
        self.events: asyncio.Queue = asyncio.Queue()
        #: set when run() ends: source threads stop
        self.stop = threading.Event()
        #: called on taking the lead, after the controller's own steps
        self.on_lead: list[Callable[[], None]] = []

    # -- life -----------------------------------------------------------

    async def run(self, sources: Iterable[tuple[str, Source]],
                  beside: Iterable[Callable[[], Coroutine[Any, Any, None]]] = ()) -> None:
        """Run each (thread name, source) in a thread, take part in the
        election, and apply what the sources post until cancelled; the
        tasks ``beside`` start and stop with it (one failing ends all)."""
        assert self.election is not None, "run() needs an election"
        loop = asyncio.get_running_loop()
        stop = self.stop

        def post(kind: str, etype: str, obj) -> None:
            loop.call_soon_threadsafe(self.events.put_nowait, (kind, etype, obj, time.monotonic()))

        for name, source in sources:
            threading.Thread(target=source, args=(post, stop), name=name, daemon=True).start()
        election = self.election
        tasks = [asyncio.create_task(self._apply_events()),
                 asyncio.create_task(election.run(lambda: self.lead(election.key, election.ident), self.lose)),
                 *(asyncio.create_task(task()) for task in beside)]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.result()
        finally:
            stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _apply_events(self) -> None:
        while True:
            batch = [await self.events.get()]
            while not self.events.empty():
                batch.append(self.events.get_nowait())
            since = None  # the oldest event of the batch: event -> write latency
            for kind, etype, obj, at in batch:
                if kind in self.cache:
                    self.on_event(kind, etype, obj)
                    since = at if since is None else min(since, at)
            try:
                if await self.sync():
                    metrics.synced(since)
            except NotLeader:
                log.warning("lost the lead while writing; stopping writes")
                self.lose()

    def lead(self, key: bytes, ident: bytes) -> None:
        """This replica now leads: write (while ``key`` holds ``ident``),
        starting with a full reconcile."""
        self.writer.lead(key, ident)
        self.leading, self.full = True, True
        metrics.leading(True)
        self.events.put_nowait(("lead", "", None, None))  # wake the loop up
        for hook in self.on_lead:
            hook()

    def lose(self) -> None:
        """Another replica may lead now: stop writing."""
        self.leading = False
        self.synced.clear()
        metrics.leading(False)

    def ready(self) -> bool:
        """Listed every kind and etcd answers; then, leading: the first full
        sync is written; following: another replica holds the lead."""
        election = self.election
        if not self.writer.healthy or election is None or not election.connected or self.listed != set(KINDS):
            return False
        return self.synced.is_set() if self.leading else election.following

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
        if any(u.kind == "pod" for u in units):
            out.update(records.pod_records(self.cache["pods"].values(), self.opt))
        for u in units:
            if u.kind == "svc":
                svc = services.get(u.object_key)
                if svc is not None:
                    eps = self.cache["endpoints"].get(u.object_key)
                    out[u] = records.service_records(svc, eps, self.opt)
            elif u == records.META_UNIT:
                out[u] = records.meta_records(self.opt)
        return {u: r for u, r in out.items() if u in units and r}

    async def sync(self) -> bool:
        """Write what the dirty units (or, after a (re)list or taking the
        lead, all units) call for; True when something was written."""
        if not self.ready_to_sync:
            return False
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
        applied(self.have, changes)
        self.synced.set()
        return bool(changes)
