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

_H = struct.Struct("!HHHHHH")
_TC = struct.Struct("!HH")
_RR = struct.Struct("!HHIH")
_PTR = struct.Struct("!H")
_SOA = struct.Struct("!IIIII")


@functools.lru_cache(maxsize=8192)
def _packed(ip: str) -> bytes:
    """An IPv6 address's 16 bytes; through ipaddress (this module stays free
    of sockets) and kept, as the same addresses are written again and again.
    IPv4 is packed inline (a cold workload has more distinct addresses than
    this cache holds, and a miss here costs ~1.9 us)."""
    return ipaddress.ip_address(ip).packed


#: an OPT record's (UDP size, DO bit, (code, data) options)
Opt = tuple[int, bool, tuple[tuple[int, bytes], ...]]
#: (id, flags, name, qtype, qclass, opt, raw question section)
Parsed = tuple[int, int, str, int, int, Opt | None, bytes]


def parse_question(data: bytes) -> Parsed | None:
    """(id, flags, name, qtype, qclass, opt, raw) of a plain query, opt being
    None or (udp size, DO bit, options) and raw the question section's bytes;
    None when the packet is not plain."""
    if len(data) < 17:
        return None
    qid, flags, qd, an, ns, ar = _H.unpack_from(data)
    if qd != 1 or an or ns or ar > 1:
        return None
    pos = 12
    end = len(data)
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
    # a label holding a dot (or a length byte that reads as one) or
    # non-ASCII text is rare enough to leave to dnslib
    if b"." in wire_name or not wire_name.isascii():
        return None
    qtype, qclass = _TC.unpack_from(data, pos)
    qend = pos + 4
    opt: Opt | None = None
    if ar:
        if qend + 11 > end or data[qend] != 0:
            return None
        rtype, size, ttl, rdlen = _RR.unpack_from(data, qend + 1)
        o = qend + 11
        if rtype != dd.OPT or o + rdlen != end:
            return None
        options: list[tuple[int, bytes]] = []
        while o < end:
            if o + 4 > end:
                return None
            code, length = _TC.unpack_from(data, o)
            if o + 4 + length > end:
                return None
            options.append((code, data[o + 4:o + 4 + length]))
            o += 4 + length
        opt = (max(512, size), bool(ttl & 0x8000), tuple(options))
    elif qend != end:
        return None
    return qid, flags, _text(wire_name), qtype, qclass, opt, data[12:qend]


def _text(wire_name: bytes) -> str:
    """'a.b.' from the uncompressed wire form of a name (already checked)."""
    if len(wire_name) == 1:
        return "."
    out = bytearray(wire_name[1:])
    i = wire_name[0]
    while i < len(out):
        step = out[i]
        out[i] = 0x2E
        i += step + 1
    return out.decode("ascii")


_PLANS: dict[str, tuple[tuple[str, bytes], ...]] = {}


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


_SOAS: dict[tuple[Any, ...], bytes] = {}


def _soa_rdata(d: tuple[Any, ...]) -> bytes:
    """An SOA's rdata, its two names uncompressed (allowed, and it is the
    same few bytes in every NXDOMAIN and NODATA of the zone: kept)."""
    rdata = _SOAS.get(d)
    if rdata is None:
        rdata = _wire_name(d[0]) + _wire_name(d[1]) + _SOA.pack(*d[2:7])
        if len(_SOAS) >= 64:
            _SOAS.clear()
        _SOAS[d] = rdata
    return rdata


def _wire_name(name: str) -> bytes:
    name = msg.fqdn(name)
    return b"".join(raw for _, raw in _plan(name)) + b"\x00" if name != "." else b"\x00"


class _Writer:
    """Appends records to a packet whose question section is in place.

    A name is compressed against the question (a pointer to offset 12 plus
    its position in the question name; most owners are the question itself)
    and against the names written before it."""

    __slots__ = ("buf", "names", "qname")

    def __init__(self, qname: str) -> None:
        self.buf = bytearray()
        self.names: dict[str, int] = {}
        self.qname = qname.lower()

    def name(self, name: str, compress: bool = True) -> None:
        buf = self.buf
        if name[-1:] != ".":
            name += "."
        q = self.qname
        if compress and len(name) == len(q) and name.lower() == q:
            buf += b"\xc0\x0c"  # the question's name
            return
        if name == ".":
            buf.append(0)
            return
        names = self.names
        lq = len(q)
        for suffix, raw in _plan(name):
            if compress:
                ptr = names.get(suffix)
                if ptr is None and q.endswith(suffix):
                    k = lq - len(suffix)
                    if k == 0 or q[k - 1] == ".":
                        ptr = 12 + k
                if ptr is not None:
                    buf += _PTR.pack(0xC000 | ptr)
                    return
            if len(buf) < 0x3FFF and suffix not in names:
                names[suffix] = len(buf)
            buf += raw
        buf.append(0)

    def rr(self, rr: dd.RR) -> None:
        self.name(rr.name)
        t, d = rr.type, rr.data
        buf = self.buf
        start = len(buf)
        buf += _RR.pack(t, rr.cls, rr.ttl, 0)
        rd = len(buf)
        if isinstance(d, (bytes, bytearray)):  # rdata already in wire form (DNSSEC records)
            buf += d
        elif t == dd.A:
            buf += bytes(map(int, d.split(".")))  # a dotted quad (msg.address checked it): ~20x cheaper than ipaddress
        elif t == dd.SOA:
            buf += _soa_rdata(d)
        elif t == dd.AAAA:
            buf += _packed(d)
        elif t in (dd.CNAME, dd.NS, dd.PTR):
            self.name(d)
        elif t == dd.MX:
            buf += struct.pack("!H", d[0])
            self.name(d[1])
        elif t == dd.SRV:
            buf += struct.pack("!HHH", d[0], d[1], d[2])
            self.name(d[3], compress=False)  # RFC 2782: the target is not compressed
        elif t == dd.TXT:
            for s in d:
                raw = s.encode() if isinstance(s, str) else s
                buf.append(len(raw))
                buf += raw
        else:
            raise ValueError(f"cannot encode type {t}")
        struct.pack_into("!H", buf, start + 8, len(buf) - rd)


def encode(qid: int, flags: int, qname: str, qtype: int, qclass: int, answer: Sequence[dd.RR],
           authority: Sequence[dd.RR], additional: Sequence[dd.RR],
           opt: tuple[int, bool] | None, question: bytes | None = None) -> bytes:
    """A reply packet; ``flags`` is the full header flags word and
    ``question`` the question section as the client sent it, when known."""
    w = _Writer(qname)
    n_ar = len(additional) + (1 if opt else 0)
    buf = w.buf
    buf += _H.pack(qid, flags, 1, len(answer), len(authority), n_ar)
    if question is not None:
        buf += question
    else:
        buf += _wire_name(qname) + _TC.pack(qtype, qclass)
    for rr in answer:
        w.rr(rr)
    for rr in authority:
        w.rr(rr)
    for rr in additional:
        w.rr(rr)
    if opt:
        buf += b"\x00" + _RR.pack(dd.OPT, opt[0], 0x8000 if opt[1] else 0, 0)
    return bytes(buf)


# -- header fields of any packet: the one place outside the codec and
#    wire.parse_query where a packet's ID, flags or question bytes are read --

#: the length of a packet's ID: ``packet[:ID_LEN]`` is the ID and
#: ``packet[ID_LEN:]`` what follows it (the same whatever ID a client picks:
#: the packet cache's key, a kept reply).  A constant, not a function: the
#: packet cache slices with it on every hit.
ID_LEN: Final = 2

_ID = struct.Struct("!H")


def renumbered(packet: bytes, qid: int) -> bytes:
    """The packet with its ID set to ``qid``."""
    return _ID.pack(qid) + packet[ID_LEN:]


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
