"""One writer among several kube2sky replicas, elected through an etcd lease.

A replica becomes leader by creating the leader key bound to a lease (a
transaction that only succeeds when the key does not exist), and stays
leader while it keeps the lease alive.  When the leader dies its lease runs
out, etcd deletes the key, and a follower -- polling the key -- takes over
within the lease TTL.  Writes carry a compare on the key, so a replica that
lost the lease cannot write after its successor started.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from tenacity import AsyncRetrying, retry_if_exception_type
from skydns_common.retry import backoff

from skydns_common.etcd import Endpoints

log = logging.getLogger(__name__)


class Election:
    def __init__(self, endpoints: Endpoints, key: str, ident: str, ttl: int) -> None:
        self.endpoints = endpoints
        self.key = key.encode()
        self.ident = ident.encode()
        self.ttl = max(2, ttl)
        #: whether the last attempt reached etcd (a follower that cannot is not ready)
        self.connected = False
        #: whether another replica holds the lead (so the tree is being kept)
        self.following = False

    async def run(self, on_lead: Callable[[], None], on_lose: Callable[[], None]) -> None:
        while True:
            async for attempt in AsyncRetrying(wait=backoff(0.2, self.ttl / 2),
                                               retry=retry_if_exception_type(Exception), reraise=True,
                                               before_sleep=self._failed):
                with attempt:
                    await self._term(on_lead, on_lose)

    def _failed(self, retry_state) -> None:
        if self.connected:
            log.warning("election: etcd %s: %s", self.endpoints, str(retry_state.outcome.exception())[:200])
        self.connected = False
        self.following = False
        self.endpoints.advance()

    async def _term(self, on_lead, on_lose) -> None:
        async with self.endpoints.client(timeout=self.ttl) as c:
            lease = await c.lease(self.ttl)
            self.connected = True
            ok, _ = await c.transaction(compare=[c.transactions.create(self.key) == 0],
                                        success=[c.transactions.put(self.key, self.ident, lease=lease)],
                                        failure=[])
            if not ok:
                await lease.revoke()
                try:
                    while (got := await c.get(self.key)) is not None and got.value != self.ident:
                        self.following = True
                        await asyncio.sleep(0.25)
                finally:
                    self.following = False
                if got is not None:  # our own key from an earlier term: let it go and try again
                    await c.delete(self.key)
                return
            log.info("leading (key %s)", self.key.decode())
            on_lead()
            try:
                while True:
                    await asyncio.sleep(self.ttl / 3)
                    reply = await asyncio.wait_for(lease.refresh(), self.ttl / 3)
                    if reply is None or reply.TTL <= 0:
                        raise RuntimeError("lease expired")
            except asyncio.CancelledError:
                # stopping: hand the lead over now rather than after the TTL
                try:
                    await asyncio.wait_for(lease.revoke(), 2)
                    log.info("released the lead")
                except Exception:  # noqa: BLE001 - the lease runs out by itself anyway
                    pass
                raise
            finally:
                log.warning("no longer leading")
                on_lose()
