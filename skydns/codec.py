"""A small, fast DNS codec for the two packets skydns handles most.

Reading a plain question (one question, maybe an OPT record) and writing an
authoritative reply from :class:`~skydns.dnsdata.RR` tuples are most of the
work of an answer that is not in the packet cache; dnslib's general-purpose
classes spend ~100 us on them.  This module does just those two things in
a few microseconds.  Anything unusual (compression in a question, other
records in a query, trailing bytes) returns None, and the caller falls back
to dnslib, which stays the reference for everything else.
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from typing import Any, Final, Sequence

from . import dnsdata as dd
from skydns_common import msg

# struct's packers, bound once (a method looked up per call costs as much as
# the packing)
_H: Final = struct.Struct("!HHHHHH").pack
_TC: Final = struct.Struct("!HH").pack
_RR: Final = struct.Struct("!HHIH").pack
_U16: Final = struct.Struct("!H").pack
_SOA: Final = struct.Struct("!IIIII").pack
_SRV: Final = struct.Struct("!HHH").pack

#: the two bytes of 0..4095 (types, classes, lengths) and of a pointer to
#: offsets 0..4095, ready made: a tuple index instead of a pack per field
_SMALL: Final = tuple(i.to_bytes(2, "big") for i in range(4096))
_POINTERS: Final = tuple((0xC000 | i).to_bytes(2, "big") for i in range(4096))
#: the four bytes of the TTLs written lately (a zone has few distinct TTLs)
_TTLS: Final[dict[int, bytes]] = {}


def _u16(n: int) -> bytes:
    return _SMALL[n] if 0 <= n < 4096 else _U16(n)


def _ttl(ttl: int) -> bytes:
    out = _TTLS.get(ttl)
    if out is None:
        out = ttl.to_bytes(4, "big")
        if len(_TTLS) >= 1024:
            _TTLS.clear()
        _TTLS[ttl] = out
    return out


@functools.lru_cache(maxsize=8192)
def _packed(ip: str) -> bytes:
    """An IPv6 address's 16 bytes; through ipaddress (this module stays free
    of sockets) and kept, as the same addresses are written again and again.
    IPv4 is packed inline (a cold workload has more distinct addresses than
    this cache holds, and a miss here costs ~1.9 us)."""
    return ipaddress.ip_address(ip).packed


def parse_question(data: bytes) -> dd.Query | None:
    """The :class:`~skydns.dnsdata.Query` of a plain query packet (one
    question with an uncompressed ASCII name, maybe an OPT record, nothing
    after it), or None when the packet is not plain.  The header's bytes are
    read one by one: compiled, that is cheaper than a struct call."""
    end = len(data)
    if end < 17 or data[4] or data[5] != 1 or data[6] or data[7] or data[8] or data[9] or data[10]:
        return None  # not one question, or answer/authority records in a query
    ar = data[11]
    if ar > 1:
        return None
    pos = 12
    n = data[12]
    while n:
        if n & 0xC0:
            return None
        pos += 1 + n
        if pos >= end:
            return None
        n = data[pos]
    pos += 1
    if pos + 4 > end or pos - 12 > 255:
        return None
    wire_name = data[12:pos]
    # a label holding a dot (or a length byte that reads as one: 0x2E, an int
    # test -- a bytes one first tries the argument as an int and fails) or
    # non-ASCII text is rare enough to leave to dnslib
    if 0x2E in wire_name or not wire_name.isascii():
        return None
    qtype = data[pos] << 8 | data[pos + 1]
    qclass = data[pos + 2] << 8 | data[pos + 3]
    qend = pos + 4
    question = dd.Question(_text(wire_name), qtype, qclass)
    qid = data[0] << 8 | data[1]
    flags = data[2] << 8 | data[3]
    if not ar:
        if qend != end:
            return None
        return dd.Query(qid, flags, question, False, UDP_MIN, False, (), data[12:qend])
    if qend + 11 > end or data[qend] != 0:
        return None
    o = qend + 11
    rdlen = data[o - 2] << 8 | data[o - 1]
    if data[qend + 1] << 8 | data[qend + 2] != dd.OPT or o + rdlen != end:
        return None
    size = data[qend + 3] << 8 | data[qend + 4]
    do = bool(data[qend + 7] & 0x80)  # the DO bit: the top bit of the TTL's third byte
    options: list[tuple[int, bytes]] = []
    while o < end:
        if o + 4 > end:
            return None
        code = data[o] << 8 | data[o + 1]
        length = data[o + 2] << 8 | data[o + 3]
        if o + 4 + length > end:
            return None
        options.append((code, data[o + 4:o + 4 + length]))
        o += 4 + length
    return dd.Query(qid, flags, question, True, max(UDP_MIN, size), do, tuple(options), data[12:qend])


#: the smallest UDP size a client takes (RFC 1035; an OPT asking less asks this)
UDP_MIN: Final = 512


def _text(wire_name: bytes) -> str:
    """'a.b.' from the uncompressed wire form of a name (already checked)."""
    n = wire_name[0]
    if not n:
        return "."
    text = wire_name.decode("ascii")
    labels = []
    i = 0
    while n:
        labels.append(text[i + 1:i + 1 + n])
        i += n + 1
        n = wire_name[i]
    labels.append("")
    return ".".join(labels)


_PLANS: Final[dict[str, tuple[tuple[str, bytes], ...]]] = {}


def _plan(name: str) -> tuple[tuple[str, bytes], ...]:
    """(lower-cased suffix, wire label) for each label of a name ending in a
    dot; kept for the names written again and again (the SOA's, SRV targets)."""
    plan = _PLANS.get(name)
    if plan is None:
        lower = name.lower()
        out = []
        pos = 0
        for label in name[:-1].split("."):
            raw = label.encode()
            out.append((lower[pos:], bytes((len(raw),)) + raw))
            pos += len(label) + 1
        plan = tuple(out)
        if len(_PLANS) >= 4096:
            _PLANS.clear()
        _PLANS[name] = plan
    return plan


_SOAS: Final[dict[tuple[Any, ...], bytes]] = {}


def _soa_rdata(d: tuple[Any, ...]) -> bytes:
    """An SOA's rdata, its two names uncompressed (allowed, and it is the
    same few bytes in every NXDOMAIN and NODATA of the zone: kept)."""
    rdata = _SOAS.get(d)
    if rdata is None:
        rdata = _wire_name(d[0]) + _wire_name(d[1]) + _SOA(*d[2:7])
        if len(_SOAS) >= 64:
            _SOAS.clear()
        _SOAS[d] = rdata
    return rdata


def _wire_name(name: str) -> bytes:
    name = msg.fqdn(name)
    return b"".join(raw for _, raw in _plan(name)) + b"\x00" if name != "." else b"\x00"


class _Writer:
    """Appends records to a packet whose header and question are its first
    chunk; the chunks are joined at the end.

    A name is compressed against the question (a pointer to offset 12 plus
    its position in the question name; most owners are the question itself)
    and against the names written before it."""

    __slots__ = ("chunks", "size", "names", "qname")

    def __init__(self, qname: str, head: bytes) -> None:
        self.chunks = [head]
        self.size = len(head)
        self.names: dict[str, int] = {}
        self.qname = qname.lower()

    def name(self, name: str, at: int, compress: bool = True) -> bytes:
        """The wire form of ``name`` to be written at offset ``at``; its
        suffixes become pointer targets for the names after it."""
        if name[-1:] != ".":
            name += "."
        q = self.qname
        if compress and len(name) == len(q) and name.lower() == q:
            return b"\xc0\x0c"  # the question's name
        if name == ".":
            return b"\x00"
        names = self.names
        lq = len(q)
        out = b""
        for suffix, raw in _plan(name):
            if compress:
                ptr = names.get(suffix, -1)
                if ptr < 0 and q.endswith(suffix):
                    k = lq - len(suffix)
                    if k == 0 or q[k - 1] == ".":
                        ptr = 12 + k
                if ptr >= 0:
                    return out + (_POINTERS[ptr] if ptr < 4096 else _U16(0xC000 | ptr))
            pos = at + len(out)
            if pos < 0x3FFF and suffix not in names:
                names[suffix] = pos
            out += raw
        return out + b"\x00"

    def rr(self, rr: dd.RR) -> None:
        at = self.size
        owner = self.name(rr.name, at)
        t, d = rr.type, rr.data
        rd = at + len(owner) + 10  # where the rdata starts
        rdata: bytes
        if isinstance(d, bytes):  # rdata already in wire form (DNSSEC records)
            rdata = d
        elif t == dd.A:
            a, b, c, e = d.split(".")  # a dotted quad (msg.address checked it): ~20x cheaper than ipaddress
            rdata = bytes((int(a), int(b), int(c), int(e)))
        elif t == dd.SOA:
            rdata = _soa_rdata(d)
        elif t == dd.AAAA:
            rdata = _packed(d)
        elif t == dd.CNAME or t == dd.NS or t == dd.PTR:
            rdata = self.name(d, rd)
        elif t == dd.MX:
            rdata = _u16(d[0]) + self.name(d[1], rd + 2)
        elif t == dd.SRV:
            # RFC 2782: the target is not compressed
            rdata = _SRV(d[0], d[1], d[2]) + self.name(d[3], rd + 6, compress=False)
        elif t == dd.TXT:
            rdata = b""
            for s in d:
                raw = s.encode() if isinstance(s, str) else s
                rdata += bytes((len(raw),)) + raw
        else:
            raise ValueError(f"cannot encode type {t}")
        chunk = b"".join((owner, _u16(t), _u16(rr.cls), _ttl(rr.ttl), _u16(len(rdata)), rdata))
        self.chunks.append(chunk)
        self.size = at + len(chunk)


def encode(qid: int, flags: int, qname: str, qtype: int, qclass: int, answer: Sequence[dd.RR],
           authority: Sequence[dd.RR], additional: Sequence[dd.RR],
           opt: tuple[int, bool] | None, question: bytes | None = None) -> bytes:
    """A reply packet; ``flags`` is the full header flags word and
    ``question`` the question section as the client sent it, when known."""
    head = _H(qid, flags, 1, len(answer), len(authority), len(additional) + (1 if opt else 0))
    if question is not None:
        head += question
    else:
        head += _wire_name(qname) + _TC(qtype, qclass)
    w = _Writer(qname, head)
    for rr in answer:
        w.rr(rr)
    for rr in authority:
        w.rr(rr)
    for rr in additional:
        w.rr(rr)
    if opt:
        w.chunks.append(b"\x00" + _RR(dd.OPT, opt[0], 0x8000 if opt[1] else 0, 0))
    return b"".join(w.chunks)


# -- header fields of any packet: the one place outside the codec and
#    wire.parse_query where a packet's ID, flags or question bytes are read --

#: the length of a packet's ID: ``packet[:ID_LEN]`` is the ID and
#: ``packet[ID_LEN:]`` what follows it (the same whatever ID a client picks:
#: the packet cache's key, a kept reply).  A constant, not a function: the
#: packet cache slices with it on every hit.
ID_LEN: Final = 2



def renumbered(packet: bytes, qid: int) -> bytes:
    """The packet with its ID set to ``qid``."""
    return _U16(qid) + packet[ID_LEN:]


def rcode(packet: bytes) -> int:
    """The header's RCODE; SERVFAIL for a packet too short to have one."""
    return packet[3] & 0x0F if len(packet) >= 4 else dd.SERVFAIL


def truncated(packet: bytes) -> bool:
    """Whether the header's TC bit is set."""
    return len(packet) > 3 and bool(packet[2] & 0x02)


def same_question(query: bytes, reply: bytes) -> bool:
    """Whether ``reply`` carries the question of ``query`` (names compared
    without regard to case); the question follows the header in both."""
    end = 12
    while end < len(query) and query[end] != 0:
        end += query[end] + 1
    end += 5
    return reply[12:end].lower() == query[12:end].lower()
