"""Packet in, packet out: the one place where packets and errors become replies.

Both transports call :meth:`Handler.handle` and get a :data:`Result`: the
reply packet, None (send nothing), or an awaitable of those when the
question goes to another server.  The handler reads the question, routes it
-- the packet cache, a stub zone, the answer logic over the store, the
relay (:mod:`skydns.relay`) -- and hands the reply to
:mod:`skydns.replies` to be made a packet.  Junk that has no readable
header is dropped, a readable header with a bad body gets FORMERR, an
exception gets SERVFAIL, and NXDOMAIN comes only from the answer logic
reading the store.  Questions the store answers alone are handled
synchronously (no task per packet); only relaying returns an awaitable.
"""

from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable

from . import answer as ans
from . import wire
from .dnsdata import SERVFAIL, Reply
from .forward import Forwarder
from .metrics import Metrics, timer
from .relay import Relay
from .replies import Replies
from .state import State

__all__ = ["Handler", "Result", "State"]

log = logging.getLogger(__name__)


#: what a transport gets for a packet: the reply, None (send nothing), or an awaitable of those
Result = bytes | None | Awaitable[bytes | None]


class Handler:
    def __init__(self, state: State, forwarder: Forwarder, metrics: Metrics,
                 clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.metrics = metrics
        self.clock = clock
        self._logged: set[str] = set()
        self.replies = Replies(state, metrics, clock)
        self.relay = Relay(state, forwarder, self.replies, metrics, self._error, clock)
        self.packets = self.replies.packets
        self._auth = metrics.auth()

    def handle(self, data: bytes, tcp: bool) -> Result:
        """The reply to one question packet, over UDP or TCP; from the
        packet cache when it has one (the hot path), else built."""
        start = timer()
        state = self.state
        out = self.packets.get(data, tcp, state.store, state.config)
        if out is None:
            return self.build(data, tcp, start)
        self._auth.observe(timer() - start, len(out))
        return out

    def fast(self, data: bytes, tcp: bool) -> bytes | None:
        """The packet cache's reply, or None: what :meth:`handle` answers
        without building."""
        state = self.state
        return self.packets.get(data, tcp, state.store, state.config)

    def build(self, data: bytes, tcp: bool, start: float = -1.0) -> Result:
        """The reply when the packet cache has none (``start``: when the
        packet came in).  No closures here: compiled, a function that
        makes one pays for it on every call."""
        if start < 0:
            start = timer()
        try:
            query = wire.parse_query(data)
        except wire.Malformed as bad:
            self.metrics.malformed.inc()
            return bad.reply
        except Exception as exc:  # noqa: BLE001 - no client input may stop the server
            self._error("reading a packet", exc)
            return wire.header_reply(data, SERVFAIL)
        q = query.question
        try:
            state = self.state
            cfg = state.config
            if cfg.stubzones:
                servers = self.relay.stub_servers(q.name)
                if servers is not None:
                    return None if self.relay.looped(query) else self._to_stub(query, data, tcp, start, servers)
            signer = state.signer
            reply = ans.answer(q, state.store, cfg, self.clock(), dnskey=signer.dnskey_rr if signer else None)
            if reply.forward:
                hit = self.relay.cached(query, tcp, start)
                return hit if hit is not None else self._forward(query, data, tcp, start, reply.system)
            if reply.needs:
                return self._complete(query, reply, tcp, start)
            return self.replies.send(query, reply, tcp, start, data)
        except Exception as exc:  # noqa: BLE001
            self._error(f"answering {q.name} {q.type}", exc)
            return self.replies.servfail(query, tcp, start)

    def _to_stub(self, query: wire.Query, data: bytes, tcp: bool, start: float, servers: tuple[str, ...]) -> Result:
        relay = self.relay
        return self._later("forwarding", query, tcp, start, lambda: relay.to_stub(query, data, tcp, start, servers))

    def _forward(self, query: wire.Query, data: bytes, tcp: bool, start: float, system: str) -> Result:
        relay = self.relay
        return self._later("forwarding", query, tcp, start, lambda: relay.forward(query, data, tcp, start, system))

    def _complete(self, query: wire.Query, reply: Reply, tcp: bool, start: float) -> Result:
        relay = self.relay
        return self._later("completing", query, tcp, start, lambda: relay.complete(query, reply, tcp, start))

    async def _later(self, what: str, query: wire.Query, tcp: bool, start: float,
                     step: Callable[[], Awaitable[bytes | None]]) -> bytes | None:
        """The reply another server's answer makes; an exception on the way
        becomes SERVFAIL.  ``step`` starts only when this is awaited."""
        try:
            return await step()
        except Exception as exc:  # noqa: BLE001
            q = query.question
            self._error(f"{what} {q.name} {q.type}", exc)
            return self.replies.servfail(query, tcp, start)

    def _error(self, what: str, exc: Exception) -> None:
        sig = f"{what.split(' ')[0]}:{type(exc).__name__}:{exc}"
        if sig in self._logged:
            log.debug("error %s: %r", what, exc)
            return
        if len(self._logged) < 10000:
            self._logged.add(sig)
        log.error("error %s: %r (further errors like this are logged at debug level)", what, exc,
                  exc_info=exc)
