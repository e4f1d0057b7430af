"""Packet in, packet out: the one place where errors become DNS replies.

Junk that has no readable header is dropped, a readable header with a bad
body gets FORMERR, an exception or a failed forward gets SERVFAIL, and
NXDOMAIN comes only from the answer logic reading the store.  Questions the
store answers alone are handled synchronously (no task per packet); only
forwarding returns an awaitable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from typing import Awaitable, Callable

from . import answer as ans
from . import wire
from .config import Config
from .forward import Forwarder
from .forwardcache import ResponseCache
from .metrics import Metrics
from .packetcache import PacketCache
from .store import Store
from .stub import LOOP_OPTION, StubZones

log = logging.getLogger(__name__)

Result = bytes | None | Awaitable[bytes | None]


class State:
    """What the server answers from: the mirror and the current settings."""

    def __init__(self, store: Store, config: Config, signer=None) -> None:
        self.store = store
        self.config = config
        self.connected = False
        #: the DNSSEC signer when -dnssec names a key
        self.signer = signer

    def ready(self) -> bool:
        return self.store.synced and self.connected


class Handler:
    def __init__(self, state: State, forwarder: Forwarder, metrics: Metrics,
                 clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.forwarder = forwarder
        self.metrics = metrics
        self.clock = clock
        self._logged: set[str] = set()
        self._turn = itertools.count()
        cfg = state.config
        self.cache = ResponseCache(cfg.rcache, cfg.rcache_ttl, cfg.serve_stale_for, clock)
        self.stubs = StubZones()
        self.packets = PacketCache(clock=clock)
        self._fast = metrics.fast_path()

    def fast(self, data: bytes, tcp: bool) -> bytes | None:
        """The reply from the packet cache, or None: the hot path."""
        start = time.perf_counter()
        state = self.state
        config = state.config
        if config.stubzones:
            return None
        out = self.packets.get(data, tcp, state.store, config)
        if out is not None:
            self._fast(time.perf_counter() - start, len(out))
        return out

    def handle(self, data: bytes, tcp: bool) -> Result:
        out = self.fast(data, tcp)
        return out if out is not None else self.build(data, tcp)

    def build(self, data: bytes, tcp: bool) -> Result:
        """The reply when the packet cache has none."""
        start = time.perf_counter()
        try:
            query = wire.parse_query(data)
        except wire.Malformed as bad:
            self.metrics.malformed.inc()
            return bad.reply
        except Exception as exc:  # noqa: BLE001 - no client input may stop the server
            self._error("reading a packet", exc)
            return wire.header_reply(data, ans.SERVFAIL)
        try:
            state = self.state
            cfg = state.config
            if cfg.stubzones:
                self.stubs.refresh(state.store, cfg.domain)
                stub = self.stubs.match(query.question.name)
                if stub is not None:
                    if any(code == LOOP_OPTION for code, _ in query.options):
                        return None  # already forwarded by a stub: a loop
                    return self._relay(query, wire.with_option(data, LOOP_OPTION, b"\x01"), tcp, start,
                                       "stub", stub[1])
            signer = state.signer
            reply = ans.answer(query.question, state.store, cfg, self.clock(),
                               dnskey=signer.dnskey_rr if signer else None)
            if reply.forward:
                hit = self.cache.get(self._key(query, tcp), query.id, query.question.name)
                if hit is not None:
                    self.metrics.cachehit.labels("response").inc()
                    self.metrics.observe("cache", time.perf_counter() - start, len(hit), _cause_of_packet(hit))
                    return hit
                self.metrics.cachemiss.labels("response").inc()
                return self._relay(query, data, tcp, start, reply.system, None)
            if reply.needs:
                return self._complete(query, reply, tcp, start)
            return self._send(query, reply, tcp, start, data)
        except Exception as exc:  # noqa: BLE001
            self._error(f"answering {query.question.name} {query.question.type}", exc)
            return self._servfail(query, tcp, start)

    @staticmethod
    def _key(query: wire.Query, tcp: bool):
        q = query.question
        return (q.name.lower(), q.type, q.cls, query.do, query.edns, tcp)

    async def _relay(self, query: wire.Query, data: bytes, tcp: bool, start: float, system: str,
                     servers: tuple[str, ...] | None) -> bytes | None:
        """Forward the client's question; cache what comes back; when every
        upstream failed, serve stale or SERVFAIL."""
        q = query.question
        key = self._key(query, tcp)
        try:
            out = await self.forwarder.forward(data, q.name, tcp, servers)
        except Exception as exc:  # noqa: BLE001
            self._error(f"forwarding {q.name} {q.type}", exc)
            out = None
        if out is not None:
            self.cache.put(key, out)
        elif self.state.config.serve_stale:
            out = self.cache.get(key, query.id, q.name, stale=True)
            if out is not None:
                system = "cache"
        if out is None:
            return self._send(query, ans.Reply(rcode=ans.SERVFAIL, aa=False, system=system), tcp, start)
        self.metrics.observe(system, time.perf_counter() - start, len(out), _cause_of_packet(out))
        return out

    async def _lookup(self, name: str, qtype: int) -> list[ans.RR]:
        """Records for a name outside the zone, through the cache."""
        key = (name.lower(), qtype, ans.IN, False, True, False)
        packet = self.cache.get(key, 0, name)
        if packet is None:
            packet = await self.forwarder.lookup(name, qtype)
            if packet is None:
                packet = self.cache.get(key, 0, name, stale=self.state.config.serve_stale)
            else:
                self.cache.put(key, packet)
        if packet is None:
            return []
        rcode, records = wire.from_packet(packet)
        return records if rcode == ans.NOERROR else []

    async def _complete(self, query: wire.Query, reply: ans.Reply, tcp: bool, start: float) -> bytes | None:
        """Finish an answer whose CNAME chain leaves the zone."""
        q = query.question
        try:
            names = sorted(reply.needs)
            found = await asyncio.gather(*(self._lookup(n, t) for n, t in names))
            reply = ans.answer(q, self.state.store, self.state.config, self.clock(), dict(zip(names, found)))
            return self._send(query, reply, tcp, start)
        except Exception as exc:  # noqa: BLE001
            self._error(f"completing {q.name} {q.type}", exc)
            return self._servfail(query, tcp, start)

    def _send(self, query: wire.Query, reply: ans.Reply, tcp: bool, start: float, data: bytes | None = None) -> bytes:
        """Build the reply packet; when it came from the store alone, keep it
        (and, with round-robin, a few rotations) for the fast path."""
        cfg = self.state.config
        ra = not cfg.no_rec
        signer = self.state.signer
        from_store = reply.deps is not None and reply.rcode in (ans.NOERROR, ans.NXDOMAIN)
        signed = signer is not None and query.do and from_store
        if signed:
            store = self.state.store
            reply = signer.sign(query.question, reply, self.clock(), lambda n: ans.exists(store, n),
                                lambda n: ans.types_at(store, n), cfg.min_ttl)
        turns = 1
        if cfg.round_robin and len(reply.answer) > 1 and all(rr.type in (ans.A, ans.AAAA) for rr in reply.answer):
            turns = min(len(reply.answer), 8)
        if data is not None and from_store and not reply.volatile:
            if turns == 1:
                packets = [wire.build(query, reply, tcp, ra)]
            else:
                n = len(reply.answer)
                packets = [wire.build(query, _rotated(reply, k * n // turns), tcp, ra) for k in range(turns)]
            # an SOA (whose serial is the hour) is in the authority section
            # of NXDOMAIN/NODATA, or answers a question for SOA
            has_soa = bool(reply.authority) or query.question.type == ans.SOA
            self.packets.put(data, tcp, [p[2:] for p in packets], reply.deps, self.state.store, cfg, has_soa, signed)
            out = packets[0]
        else:
            if turns > 1:
                reply = _rotated(reply, next(self._turn))
            out = wire.build(query, reply, tcp=tcp, ra=ra)
        self.metrics.observe(reply.system, time.perf_counter() - start, len(out), _cause(reply, out))
        return out

    def _servfail(self, query: wire.Query, tcp: bool, start: float) -> bytes:
        return self._send(query, ans.Reply(rcode=ans.SERVFAIL, aa=False), tcp, start)

    def _error(self, what: str, exc: Exception) -> None:
        sig = f"{what.split(' ')[0]}:{type(exc).__name__}:{exc}"
        if sig in self._logged:
            log.debug("error %s: %r", what, exc)
            return
        if len(self._logged) < 10000:
            self._logged.add(sig)
        log.error("error %s: %r (further errors like this are logged at debug level)", what, exc,
                  exc_info=exc)


def _rotated(reply: ans.Reply, k: int) -> ans.Reply:
    """The reply with its answer records rotated by k (round-robin)."""
    if not k or not reply.answer:
        return reply
    k %= len(reply.answer)
    return dataclasses.replace(reply, answer=reply.answer[k:] + reply.answer[:k])


def _cause(reply: ans.Reply, data: bytes) -> str | None:
    if reply.rcode == ans.NXDOMAIN:
        return "nxdomain"
    if reply.rcode == ans.SERVFAIL:
        return "servfail"
    if reply.rcode == ans.REFUSED:
        return "refused"
    if data[2] & 0x02:
        return "truncated"
    if reply.rcode == ans.NOERROR and not reply.answer:
        return "nodata"
    return None


def _cause_of_packet(data: bytes) -> str | None:
    rcode = data[3] & 0x0F if len(data) >= 4 else ans.SERVFAIL
    return {ans.NXDOMAIN: "nxdomain", ans.SERVFAIL: "servfail", ans.REFUSED: "refused"}.get(rcode)
