"""Questions the store cannot answer alone: asked of other servers.

Names outside the domain (and PTRs the tree has no answer for) go to the
forwarders through the cache of forwarded answers; names in a stub zone go
to that zone's servers, marked so two servers stubbing each other cannot
loop; a CNAME chain that leaves the zone has its outside targets looked up
(through the same cache) and the answer made again with them.  When every
upstream failed, the client gets the stale cached answer (``-serve-stale``)
or SERVFAIL.  The handler decides when to relay and turns an exception on
the way into a reply; the coroutines here are started only once awaited.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from . import answer as ans
from . import wire
from .forwardcache import Key, ResponseCache, key
from .dnsdata import NOERROR, RR, Reply
from .forward import Forwarder
from .metrics import Metrics
from .replies import Replies
from .state import State
from .stub import LOOP_OPTION, StubZones


class Relay:
    def __init__(self, state: State, forwarder: Forwarder, replies: Replies, metrics: Metrics,
                 on_error: Callable[[str, Exception], None], clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.forwarder = forwarder
        self.replies = replies
        self.metrics = metrics
        self.on_error = on_error
        self.clock = clock
        cfg = state.config
        self.cache = ResponseCache(cfg.rcache, cfg.rcache_ttl, cfg.serve_stale_for, clock)
        self.stubs = StubZones()

    def stub_servers(self, name: str) -> tuple[str, ...] | None:
        """The servers of the stub zone holding ``name``, or None."""
        state = self.state
        self.stubs.refresh(state.store, state.config.domain)
        match = self.stubs.match(name)
        return None if match is None else match[1]

    @staticmethod
    def looped(query: wire.Query) -> bool:
        """Whether a stub server already forwarded this question (to us: a loop)."""
        return any(code == LOOP_OPTION for code, _ in query.options)

    async def to_stub(self, query: wire.Query, data: bytes, tcp: bool, start: float,
                      servers: tuple[str, ...]) -> bytes | None:
        return await self.forward(query, wire.with_option(data, LOOP_OPTION, b"\x01"), tcp, start, "stub", servers)

    def cached(self, query: wire.Query, tcp: bool, start: float) -> bytes | None:
        """The forward cache's answer to the question, or None."""
        q = query.question
        hit = self.cache.get(_key(query, tcp), query.id, q.name)
        if hit is None:
            self.metrics.cachemiss.labels("response").inc()
            return None
        self.metrics.cachehit.labels("response").inc()
        return self.replies.passed(query, "cache", start, hit, tcp)

    async def forward(self, query: wire.Query, data: bytes, tcp: bool, start: float, system: str,
                      servers: tuple[str, ...] | None = None) -> bytes | None:
        """Forward the client's question; cache what comes back; when every
        upstream failed, serve stale or SERVFAIL."""
        q = query.question
        cache_key = _key(query, tcp)
        try:
            out = await self.forwarder.forward(data, q.name, tcp, servers)
        except Exception as exc:  # noqa: BLE001 - an upstream failure is an unanswered question
            self.on_error(f"forwarding {q.name} {q.type}", exc)
            out = None
        if out is not None:
            self.cache.put(cache_key, out)
        elif self.state.config.serve_stale:
            out = self.cache.get(cache_key, query.id, q.name, stale=True)
            if out is not None:
                system = "cache"
        if out is None:
            return self.replies.servfail(query, tcp, start, system)
        return self.replies.passed(query, system, start, out, tcp)

    async def _lookup(self, name: str, qtype: int) -> list[RR]:
        """Records for a name outside the zone, through the cache."""
        cache_key = key(name, qtype)
        packet = self.cache.get(cache_key, 0, name)
        if packet is None:
            packet = await self.forwarder.lookup(name, qtype)
            if packet is None:
                packet = self.cache.get(cache_key, 0, name, stale=self.state.config.serve_stale)
            else:
                self.cache.put(cache_key, packet)
        if packet is None:
            return []
        rcode, records = wire.from_packet(packet)
        return records if rcode == NOERROR else []

    async def complete(self, query: wire.Query, reply: Reply, tcp: bool, start: float) -> bytes:
        """Finish an answer whose CNAME chain leaves the zone."""
        q = query.question
        names = sorted(reply.needs)
        found = await asyncio.gather(*(self._lookup(n, t) for n, t in names))
        reply = ans.answer(q, self.state.store, self.state.config, self.clock(), dict(zip(names, found)))
        return self.replies.send(query, reply, tcp, start)


def _key(query: wire.Query, tcp: bool) -> Key:
    """The forward-cache key of a client's question."""
    q = query.question
    return key(q.name, q.type, q.cls, query.do, query.edns, tcp)
