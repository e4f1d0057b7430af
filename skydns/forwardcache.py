"""A bounded cache of forwarded answers, positive and negative.

Pods' search lists turn one outside lookup into several in-domain NXDOMAINs
(answered from memory) and one forwarded question; this cache makes that
forwarded question cost one upstream query per TTL.  TTLs count down as an
entry ages; negative answers live for the SOA's negative TTL (RFC 2308);
nothing lives longer than ``max_ttl`` (``-rcache-ttl``).  An expired entry
is kept for ``stale_for`` seconds so that, when every upstream fails, it can
be served with a short TTL instead of SERVFAIL (RFC 8767).  Authoritative
answers never go through here: they are built from the store every time.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from dnslib import DNSLabel, DNSRecord, QTYPE

from .codec import renumbered
from .dnsdata import IN

#: (name lower-cased, type, class, DO bit, EDNS, TCP)
Key = tuple[str, int, int, bool, bool, bool]


def key(name: str, qtype: int, qclass: int = IN, do: bool = False, edns: bool = True, tcp: bool = False) -> Key:
    """The key of a question's answer (the defaults: a question of our own,
    asked to complete a CNAME chain)."""
    return (name.lower(), qtype, qclass, do, edns, tcp)


#: TTL of an answer served stale (RFC 8767 suggests 30 s)
STALE_TTL = 30


@dataclass
class Entry:
    record: DNSRecord
    stored: float
    ttl: int


class ResponseCache:
    def __init__(self, capacity: int, max_ttl: int, stale_for: float, clock: Callable[[], float]) -> None:
        self.capacity = capacity
        self.max_ttl = max_ttl
        self.stale_for = stale_for
        self.clock = clock
        self.entries: OrderedDict[Key, Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self.entries)

    def put(self, key: Key, packet: bytes) -> None:
        if self.capacity <= 0:
            return
        try:
            record = DNSRecord.parse(packet)
        except Exception:  # noqa: BLE001 - an unreadable reply is simply not cached
            return
        ttl = cache_ttl(record)
        if ttl is None:
            return
        self.entries[key] = Entry(record, self.clock(), min(ttl, self.max_ttl))
        self.entries.move_to_end(key)
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)

    def get(self, key: Key, qid: int, qname: str, *, stale: bool = False) -> bytes | None:
        """The cached reply with the client's ID and spelling of the name,
        TTLs aged; with ``stale``, an expired one too (TTL ``STALE_TTL``)."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        age = int(self.clock() - entry.stored)
        left = entry.ttl - age
        if left <= 0:
            if not stale or -left > self.stale_for:
                if -left > self.stale_for:
                    del self.entries[key]
                return None
        self.entries.move_to_end(key)
        rec = entry.record
        if rec.questions:
            rec.questions[0].qname = DNSLabel(qname)
        for section in (rec.rr, rec.auth, rec.ar):
            for rr in section:
                if rr.rtype != QTYPE.OPT:
                    if not hasattr(rr, "orig_ttl"):
                        rr.orig_ttl = rr.ttl
                    rr.ttl = STALE_TTL if left <= 0 else max(0, min(rr.orig_ttl, entry.ttl) - age)
        return renumbered(bytes(rec.pack()), qid)


def cache_ttl(record: DNSRecord) -> int | None:
    """How long a reply may be cached: the smallest answer TTL, or for
    NXDOMAIN/NODATA the SOA's negative TTL; None when it must not be."""
    rcode = record.header.rcode
    if record.header.tc or rcode not in (0, 3):
        return None
    if rcode == 0 and record.rr:
        return min(rr.ttl for rr in record.rr)
    soa = [rr for rr in record.auth if rr.rtype == QTYPE.SOA]
    if not soa:
        return None
    return min(soa[0].ttl, soa[0].rdata.times[-1])
