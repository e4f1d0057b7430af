"""Packet in, packet out: the one place where errors become DNS replies.

Junk that has no readable header is dropped, a readable header with a bad
body gets FORMERR, an exception or a failed forward gets SERVFAIL, and
NXDOMAIN comes only from the answer logic reading the store.  Questions the
store answers alone are handled synchronously (no task per packet); only
forwarding returns an awaitable.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Awaitable, Callable

from . import answer as ans
from . import wire
from .config import Config
from .forward import Forwarder
from .metrics import Metrics
from .store import Store

log = logging.getLogger(__name__)

Result = bytes | None | Awaitable[bytes | None]


class State:
    """What the server answers from: the mirror and the current settings."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config
        self.connected = False

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

    def handle(self, data: bytes, tcp: bool) -> Result:
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
            reply = ans.answer(query.question, state.store, state.config, self.clock())
            if reply.forward or reply.needs:
                return self._complete(query, data, reply, tcp, start)
            return self._send(query, reply, tcp, start)
        except Exception as exc:  # noqa: BLE001
            self._error(f"answering {query.question.name} {query.question.type}", exc)
            return self._servfail(query, tcp, start)

    async def _complete(self, query: wire.Query, data: bytes, reply: ans.Reply, tcp: bool,
                        start: float) -> bytes | None:
        q = query.question
        try:
            if reply.forward:
                out = await self.forwarder.forward(data, q.name, tcp)
                if out is None:
                    return self._send(query, ans.Reply(rcode=ans.SERVFAIL, aa=False, system=reply.system),
                                      tcp, start)
                self.metrics.observe(reply.system, time.perf_counter() - start, len(out), _cause_of_packet(out))
                return out
            names = sorted(reply.needs)
            found = await asyncio.gather(*(self.forwarder.lookup(n, t) for n, t in names))
            external = dict(zip(names, found))
            reply = ans.answer(q, self.state.store, self.state.config, self.clock(), external)
            return self._send(query, reply, tcp, start)
        except Exception as exc:  # noqa: BLE001
            self._error(f"forwarding {q.name} {q.type}", exc)
            return self._servfail(query, tcp, start)

    def _send(self, query: wire.Query, reply: ans.Reply, tcp: bool, start: float) -> bytes:
        cfg = self.state.config
        if cfg.round_robin and len(reply.answer) > 1:
            reply.answer = _rotate(reply.answer, next(self._turn))
        data = wire.build(query, reply, tcp=tcp, ra=not cfg.no_rec)
        self.metrics.observe(reply.system, time.perf_counter() - start, len(data), _cause(reply, data))
        return data

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


def _rotate(records: list[ans.RR], k: int) -> list[ans.RR]:
    """Round-robin the address records of a plain A/AAAA answer."""
    if any(rr.type not in (ans.A, ans.AAAA) for rr in records):
        return records
    k %= len(records)
    return records[k:] + records[:k]


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
