"""Keeps the in-memory store in step with etcd.

One range read of the prefix at revision R, then a watch from R+1 applying
every put and delete.  When the connection breaks, the store keeps serving
what it has (readiness goes false) and the watch resumes from the last
applied revision, against the next endpoint, with backoff; when etcd has
compacted past that revision the prefix is listed again.  So a restart of
etcd, or of one member of a cluster, never empties the answers.

A quiet watch looks the same as a dead one, so the watch has a deadline of
its own (:meth:`Mirror._watchdog`): every few seconds a one-key read with a
timeout (a hung etcd or connection fails it), and when etcd's revision has
moved past the mirror's, a check that the watch is not owing a change
under the prefix for longer than one period (a stuck stream).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Callable

import aetcd
import grpc
from tenacity import AsyncRetrying, retry_if_exception_type

from skydns_common.etcd import Endpoints, first_change_after, head_revision, list_prefix
from skydns_common.bulk import without_gc
from .state import State
from .store import Store
from .metrics import Metrics
from skydns_common.retry import backoff

log = logging.getLogger(__name__)


class WatchStuck(Exception):
    """etcd holds a change under the prefix that the watch has not delivered."""


class Mirror:
    def __init__(self, endpoints: Endpoints, state: State, metrics: Metrics,
                 on_config: Callable[[bytes | None], None]) -> None:
        self.endpoints = endpoints
        self.state = state
        self.store = state.store
        self.metrics = metrics
        self.on_config = on_config
        self.need_list = True
        self.synced = asyncio.Event()
        self._logged_invalid: set[str] = set()
        #: lease id -> keys attached to it, so answers can count their TTL down
        self.leases: dict[int, set[str]] = {}
        self.lease_refresh = 5.0
        #: seconds between the watch's liveness checks, and the deadline of one
        self.check_every = 3.0
        self.check_timeout = 3.0

    async def run(self) -> None:
        while True:
            retrying = AsyncRetrying(wait=backoff(0.05, 5, 0.2),
                                     retry=retry_if_exception_type(Exception),
                                     before_sleep=self._failed, reraise=True)
            async for attempt in retrying:
                with attempt:
                    await self._session()

    def _failed(self, retry_state) -> None:
        exc = retry_state.outcome.exception()
        if self.state.connected or retry_state.attempt_number == 1:
            log.warning("etcd %s: %s; serving the %d keys already mirrored, retrying",
                        self.endpoints, _why(exc), len(self.store))
        self.state.connected = False
        self.metrics.synced.set(0)
        self.endpoints.advance()

    async def _session(self) -> None:
        prefix = (self.store.head + "/").encode()
        async with self.endpoints.client(timeout=10) as client:
            if self.need_list:
                await self._list(client, prefix)
            watch = await client.watch_prefix(prefix, start_revision=self.store.revision + 1)
            self.state.connected = True
            self.metrics.synced.set(1)
            log.info("watching %s from revision %d", self.endpoints, self.store.revision + 1)
            refresher = asyncio.create_task(self._refresh_leases(client))
            following = asyncio.create_task(self._follow(client, watch))
            watchdog = asyncio.create_task(self._watchdog(client, prefix))
            try:
                done, _ = await asyncio.wait({following, watchdog}, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # raises what ended it
            finally:
                tasks = (refresher, following, watchdog)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)  # ended before the client closes

    async def _follow(self, client: aetcd.Client, watch) -> None:
        try:
            async for event in watch:
                self._apply(event)
                if event.kind == "PUT" and event.kv.lease:
                    await self._lease(client, event.kv.lease, {event.kv.key.decode(errors="replace")})
        except aetcd.exceptions.RevisionCompactedError as exc:
            log.warning("etcd compacted past revision %d (now %d): listing again",
                        self.store.revision, exc.compacted_revision)
            self.need_list = True
            raise

    async def _watchdog(self, client: aetcd.Client, prefix: bytes) -> None:
        """Fails (so the session reconnects, readiness false meanwhile) when
        etcd does not answer a one-key read within check_timeout, or when a
        change under the prefix was owed at the previous check and still
        has not come through the watch.  What is owed is asked (a read of
        the prefix's keys) only after a whole period without an event while
        etcd's revision moved on, and not again while etcd's revision is
        one such a read found nothing owed at (writes outside the prefix
        move it too)."""
        owed, seen, clean = 0, self.store.revision, 0
        while True:
            await asyncio.sleep(self.check_every)
            try:
                head = await head_revision(client, prefix, self.check_timeout)
                applied = self.store.revision
                if head <= applied or head == clean or applied != seen:  # caught up, or events still coming
                    owed, seen = 0, applied
                    continue
                if owed and applied < owed:
                    raise WatchStuck(f"the watch has not delivered revision {owed} (applied "
                                     f"{self.store.revision}, etcd at {head})")
                owed = await first_change_after(client, prefix, self.store.revision, self.check_timeout)
                if not owed:
                    clean = head  # nothing under the prefix changed up to head
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise
                raise TimeoutError(f"etcd did not answer within {self.check_timeout:g}s") from None

    async def _lease(self, client: aetcd.Client, lease: int, keys: set[str]) -> None:
        """Record when a lease runs out, for the keys attached to it."""
        self.leases.setdefault(lease, set()).update(keys)
        info = await client.get_lease_info(lease, keys=False)
        expires = time.time() + info.TTL if info.TTL > 0 else time.time()
        for key in keys:
            self.store.set_expiry(key, expires)

    async def _refresh_leases(self, client: aetcd.Client) -> None:
        """Leases are kept alive by their owners; re-read their TTLs now and then."""
        while True:
            await asyncio.sleep(self.lease_refresh)
            for lease, keys in list(self.leases.items()):
                live = {k for k in keys if k in self.store.raw}
                if not live:
                    del self.leases[lease]
                    continue
                self.leases[lease] = live
                await self._lease(client, lease, live)

    async def _list(self, client: aetcd.Client, prefix: bytes) -> None:
        """List the prefix into a new index, page by page while etcd reads
        the next (list_prefix asks for it before handing this one over), and
        serve it once whole; until then the old index keeps answering."""
        fresh = Store(self.store.prefix)
        errors: list[tuple[str, str]] = []
        by_lease: dict[int, set[str]] = {}
        revision = 0
        async for revision, page in list_prefix(client, prefix):
            # the collector stays on while answers go on between pages; each
            # page, which lives on, is taken out of its walks (as adopt does)
            with without_gc():
                errors += fresh.load((key.decode(errors="replace"), value) for key, value, _ in page)
            gc.freeze()
            for key, _, lease in page:
                if lease:
                    by_lease.setdefault(lease, set()).add(key.decode(errors="replace"))
        self.store.adopt(fresh, revision)
        self.leases = {}
        for lease, keys in by_lease.items():
            await self._lease(client, lease, keys)
        self._logged_invalid.clear()
        for key, err in errors:
            self._invalid(key, err)
        self.need_list = False
        self.metrics.records.set(len(self.store))
        self.metrics.revision.set(self.store.revision)
        log.info("mirrored %d keys under %s at revision %d", len(self.store), self.store.head, self.store.revision)
        self.on_config(self.store.config_raw)
        self.synced.set()

    def _apply(self, event) -> None:
        kv = event.kv
        key = kv.key.decode(errors="replace")
        if event.kind == "PUT":
            err = self.store.put(key, kv.value, kv.mod_revision)
            if err:
                self._invalid(key, err)
            else:
                self._logged_invalid.discard(key)
        else:
            self.store.delete(key, kv.mod_revision)
            self._logged_invalid.discard(key)
        if key == self.store.config_key:
            self.on_config(self.store.config_raw)
        self.metrics.records.set(len(self.store))
        self.metrics.revision.set(self.store.revision)

    def _invalid(self, key: str, err: str) -> None:
        self.metrics.bad_values.inc()
        if key not in self._logged_invalid:
            self._logged_invalid.add(key)
            log.warning("skipping %s: %s", key, err)


def _why(exc: BaseException | None) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
