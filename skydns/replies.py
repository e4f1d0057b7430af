"""Reply -> packet: the last step of every answer, whoever decided it.

A :class:`~skydns.dnsdata.Reply` from the answer logic, the relay or an
error is signed (DNSSEC, for DO questions, when it came from the store),
rotated (round-robin over A/AAAA), encoded to fit the client's buffer and
counted in the metrics.  A reply read from the store alone is also kept in
the packet cache -- with round-robin, a few rotations of it, served in
turn -- so the same question is answered next time without any of this.
Packets made elsewhere (forwarded, from the forward cache) are counted and,
over UDP, cut to what the client takes (:func:`wire.fit_udp`).
"""

from __future__ import annotations

import itertools
import time
from typing import Callable, Final

from . import wire
from .codec import ID_LEN, rcode, truncated
from .dnsdata import AAAA, NOERROR, NXDOMAIN, SERVFAIL, SOA, A, Reply
from .metrics import Metrics, cause, timer
from .packetcache import PacketCache
from .rrsets import exists, types_at
from .state import State


#: most rotations of one answer kept in the packet cache
MAX_TURNS: Final = 8


class Replies:
    def __init__(self, state: State, metrics: Metrics, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.metrics = metrics
        self.clock = clock
        self.packets = PacketCache(clock=clock)
        self._turn = itertools.count()

    def send(self, query: wire.Query, reply: Reply, tcp: bool, start: float, data: bytes | None = None) -> bytes:
        """The reply packet; when it came from the store alone (and ``data``,
        the question packet, is given) it is kept for the packet cache."""
        cfg = self.state.config
        ra = not cfg.no_rec
        signer = self.state.signer
        from_store = reply.deps is not None and reply.rcode in (NOERROR, NXDOMAIN)
        signed = signer is not None and query.do and from_store
        if signed:
            reply = self._signed(query, reply)
        turns = 1
        if cfg.round_robin and len(reply.answer) > 1 and all(rr.type in (A, AAAA) for rr in reply.answer):
            turns = min(len(reply.answer), MAX_TURNS)
        # with stub zones on, a name may move to a stub zone without a change
        # under it: such replies are not kept (and a new config drops all)
        if data is not None and from_store and not reply.volatile and not cfg.stubzones:
            if turns == 1:
                packets = [wire.build(query, reply, tcp, ra)]
            else:
                n = len(reply.answer)
                packets = [wire.build(query, rotated(reply, k * n // turns), tcp, ra) for k in range(turns)]
            # an SOA (whose serial is the hour) is in the authority section
            # of NXDOMAIN/NODATA, or answers a question for SOA
            has_soa = bool(reply.authority) or query.question.type == SOA
            self.packets.put(data, tcp, [p[ID_LEN:] for p in packets], reply.deps or [], self.state.store, cfg,
                             has_soa, signed)
            out = packets[0]
        else:
            if turns > 1:
                reply = rotated(reply, next(self._turn))
            out = wire.build(query, reply, tcp=tcp, ra=ra)
        self.metrics.observe(reply.system, timer() - start, len(out),
                             cause(reply.rcode, truncated(out), not reply.answer))
        return out

    def _signed(self, query: wire.Query, reply: Reply) -> Reply:
        """The reply with its signatures (a method of its own: compiled, the
        closures here would cost every call of send)."""
        store, signer = self.state.store, self.state.signer
        assert signer is not None
        return signer.sign(query.question, reply, self.clock(), lambda n: exists(store, n),
                           lambda n: types_at(store, n), self.state.config.min_ttl)

    def servfail(self, query: wire.Query, tcp: bool, start: float, system: str = "auth") -> bytes:
        return self.send(query, Reply(rcode=SERVFAIL, aa=False, system=system), tcp, start)

    def passed(self, query: wire.Query, system: str, start: float, packet: bytes, tcp: bool) -> bytes:
        """Count a packet made elsewhere (forwarded, or from the forward
        cache) and hand it back, over UDP no larger than the client takes
        (:func:`wire.udp_limit`; the upstream sized it for whoever asked it)."""
        self.metrics.observe(system, timer() - start, len(packet), cause(rcode(packet)))
        return packet if tcp else wire.fit_udp(packet, wire.udp_limit(query))


def rotated(reply: Reply, k: int) -> Reply:
    """The reply with its answer records rotated by k (round-robin)."""
    if not k or not reply.answer:
        return reply
    k %= len(reply.answer)
    return reply.replaced(answer=reply.answer[k:] + reply.answer[:k])
