"""Reading what kube2sky owns in etcd and applying changes as transactions.

Each :class:`~kube2sky.plan.Change` (one service or one pod IP) becomes one
etcd transaction, puts and deletes together.  While this replica leads, the
transaction also compares the leader key, so a replica that lost its lease
cannot write.  Every call retries through tenacity with backoff, moving to
the next endpoint; :attr:`Writer.healthy` turns false while a write has been
failing for longer than ``--etcd-mutation-timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aetcd
from tenacity import AsyncRetrying, retry_if_exception_type
from skydns_common.retry import backoff

from skydns_common.etcd import TXN_OPS as MAX_OPS, Endpoints

from . import metrics
from .owned import owned
from .plan import Change, Have
from .records import Options

log = logging.getLogger(__name__)

#: transactions sent together during a large reconcile
IN_FLIGHT = 8


class NotLeader(Exception):
    """The leader key no longer holds this replica's identity."""


def chunks(puts: list[tuple[str, str]], deletes: list[str]) -> list[tuple[list[tuple[str, str]], list[str]]]:
    """The transactions that write ``puts`` and ``deletes``: one when they
    fit etcd's limit on operations, else the puts in chunks of MAX_OPS, then
    the deletes, so names never go missing in between."""
    if len(puts) + len(deletes) <= MAX_OPS:
        return [(puts, deletes)]
    return [(puts[i:i + MAX_OPS], []) for i in range(0, len(puts), MAX_OPS)] + \
        [([], deletes[i:i + MAX_OPS]) for i in range(0, len(deletes), MAX_OPS)]


class Writer:
    def __init__(self, endpoints: Endpoints, opt: Options, mutation_timeout: float) -> None:
        self.endpoints = endpoints
        self.opt = opt
        self.mutation_timeout = mutation_timeout
        self.client: aetcd.Client | None = None
        self.guard: tuple[bytes, bytes] | None = None  # (leader key, our id)
        #: false while a call has been failing for longer than the mutation timeout
        self.healthy = True

    def lead(self, key: bytes, ident: bytes) -> None:
        """Write only while ``key`` holds ``ident``: every transaction from
        now on compares it."""
        self.guard = (key, ident)

    async def _client(self) -> aetcd.Client:
        if self.client is None:
            self.client = self.endpoints.client(timeout=self.mutation_timeout)
            await self.client.connect()
        return self.client

    async def _reset(self) -> None:
        if self.client is not None:
            try:
                await self.client.close()
            except Exception:  # noqa: BLE001 - a broken client is dropped either way
                pass
        self.client = None
        self.endpoints.advance()

    async def _retry(self, what: str, fn):
        started = time.monotonic()
        async for attempt in AsyncRetrying(wait=backoff(0.1, 5, 0.2),
                                           retry=retry_if_exception_type(aetcd.exceptions.ClientError),
                                           reraise=True):
            with attempt:
                try:
                    result = await fn(await self._client())
                except aetcd.exceptions.ClientError as exc:
                    late = time.monotonic() - started > self.mutation_timeout
                    if late:
                        self.healthy = False
                    log.warning("etcd %s while %s: %s%s", self.endpoints, what, str(exc).splitlines()[0][:200],
                                "; not ready until it succeeds" if late else "")
                    await self._reset()
                    raise
        self.healthy = True
        return result

    async def load(self) -> Have:
        """Everything kube2sky owns under the prefix, by unit (one range read)."""
        head = f"/{self.opt.prefix.strip('/')}/".encode()
        result = await self._retry("listing what kube2sky owns", lambda c: c.get_prefix(head))
        return owned(((kv.key.decode(errors="replace"), kv.value) for kv in result.kvs), self.opt)

    async def apply(self, changes: list[Change]) -> None:
        """Write changes, packing several units into one transaction but never
        splitting a unit across two unless it alone exceeds etcd's limit on
        operations per transaction; such a unit is written puts first, then
        deletes, so its names never go missing in between."""
        batches: list[list[Change]] = [[]]
        ops = 0
        for change in changes:
            n = len(change.puts) + len(change.deletes)
            if batches[-1] and ops + n > MAX_OPS:
                batches.append([])
                ops = 0
            batches[-1].append(change)
            ops += n
        # different units never share a key, so their transactions may be in flight together
        for i in range(0, len(batches), IN_FLIGHT):
            await asyncio.gather(*(self._commit(b) for b in batches[i:i + IN_FLIGHT] if b))

    async def _commit(self, batch: list[Change]) -> None:
        puts = [(k, v) for c in batch for k, v in c.puts.items()]
        deletes = [k for c in batch for k in c.deletes]
        what = str(batch[0].unit) + (f" and {len(batch) - 1} more" if len(batch) > 1 else "")
        for step_puts, step_deletes in chunks(puts, deletes):
            async def txn(c: aetcd.Client, p=step_puts, d=step_deletes) -> bool:
                return await self._txn(c, p, d, [])
            if not await self._retry(f"writing {what}", txn):
                raise self._lost()
        metrics.written(len(batch), len(puts), len(deletes))
        if len(batch) <= 3:
            for c in batch:
                log.info("%s: %d put, %d deleted", c.unit, len(c.puts), len(c.deletes))
        else:
            log.debug("%d units: %d put, %d deleted", len(batch), len(puts), len(deletes))

    async def _txn(self, c: aetcd.Client, puts: list[tuple[str, str]], deletes: list[str], compare: list) -> bool:
        """The one transaction builder: ``puts`` and ``deletes`` when every
        ``compare`` holds and, while leading, the leader key holds this
        replica's identity; an etcd error is counted and raised."""
        if self.guard is not None:
            compare = [*compare, c.transactions.value(self.guard[0]) == self.guard[1]]
        ops = [c.transactions.put(k.encode(), v.encode()) for k, v in puts]
        ops += [c.transactions.delete(k.encode()) for k in deletes]
        try:
            ok, _ = await c.transaction(compare=compare, success=ops, failure=[])
        except aetcd.exceptions.ClientError:
            metrics.TXN_FAILURES.labels("etcd").inc()
            raise
        return bool(ok)

    @staticmethod
    def _lost() -> NotLeader:
        """The leader key changed hands: counted, and the error to raise."""
        metrics.TXN_FAILURES.labels("not_leader").inc()
        return NotLeader("leader key changed hands")

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    # -- keys outside the units (the kube-dns ConfigMap's) --------------------

    async def read(self, keys) -> dict[str, tuple[bytes, int]]:
        """The current value and mod revision of each key that exists (one
        round trip per MAX_OPS keys: a transaction of range reads)."""
        keys = sorted(set(keys))

        async def get(c: aetcd.Client):
            async def chunk(part):
                _, replies = await c.transaction(compare=[], success=[c.transactions.get(k.encode()) for k in part],
                                                 failure=[])
                return {kv.key.decode(errors="replace"): (kv.value, kv.mod_revision)
                        for reply in replies for _, kv in reply}
            out: dict[str, tuple[bytes, int]] = {}
            for part in await asyncio.gather(*(chunk(keys[i:i + MAX_OPS]) for i in range(0, len(keys), MAX_OPS))):
                out.update(part)
            return out
        return await self._retry(f"reading {len(keys)} keys", get)

    async def read_prefix(self, prefix: str) -> dict[str, bytes]:
        result = await self._retry(f"listing {prefix}", lambda c: c.get_prefix(prefix.encode()))
        return {kv.key.decode(errors="replace"): kv.value for kv in result.kvs}

    async def transact(self, puts: dict[str, str], deletes: list[str], revisions: dict[str, int]) -> bool:
        """One transaction, when each key of ``revisions`` is still at that
        mod revision (0: absent) and this replica still leads; False when a
        key moved (read again and retry), NotLeader when the lead did."""
        async def txn(c: aetcd.Client):
            compare = [c.transactions.mod(k.encode()) == rev for k, rev in revisions.items()]
            ok = await self._txn(c, list(puts.items()), deletes, compare)
            if ok or self.guard is None:
                return ok
            got = await c.get(self.guard[0])
            if got is None or got.value != self.guard[1]:
                raise self._lost()
            return False
        return await self._retry(f"writing {len(puts)} puts, {len(deletes)} deletes", txn)
