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
from .dnsdata import SERVFAIL
from .forward import Forwarder
from .metrics import Metrics
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
        self._fast = metrics.fast_path()

    def handle(self, data: bytes, tcp: bool) -> Result:
        """The reply to one question packet, over UDP or TCP."""
        out = self.fast(data, tcp)
        return out if out is not None else self.build(data, tcp)

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
            return wire.header_reply(data, SERVFAIL)
        q = query.question
        try:
            state = self.state
            cfg = state.config
            if cfg.stubzones:
                servers = self.relay.stub_servers(q.name)
                if servers is not None:
                    return self._later(self.relay.to_stub(query, data, tcp, start, servers), query, tcp, start,
                                       "forwarding")
            signer = state.signer
            reply = ans.answer(q, state.store, cfg, self.clock(), dnskey=signer.dnskey_rr if signer else None)
            if reply.forward:
                return self._later(self.relay.forward(query, data, tcp, start, reply.system), query, tcp, start,
                                   "forwarding")
            if reply.needs:
                return self._later(self.relay.complete(query, reply, tcp, start), query, tcp, start, "completing")
            return self.replies.send(query, reply, tcp, start, data)
        except Exception as exc:  # noqa: BLE001
            self._error(f"answering {q.name} {q.type}", exc)
            return self.replies.servfail(query, tcp, start)

    def _later(self, out: Result, query: wire.Query, tcp: bool, start: float, what: str) -> Result:
        """``out`` as it is, or when it is still to come, guarded: an
        exception on the way becomes SERVFAIL."""
        if out is None or isinstance(out, bytes):
            return out
        return self._guarded(out, query, tcp, start, what)

    async def _guarded(self, pending: Awaitable[bytes | None], query: wire.Query, tcp: bool, start: float,
                       what: str) -> bytes | None:
        try:
            return await pending
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
