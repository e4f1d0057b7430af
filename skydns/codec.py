"""A small, fast DNS codec for the two packets skydns handles most.

Reading a plain question (one question, maybe an OPT record) and writing an
authoritative reply from :class:`~skydns.answer.RR` tuples are most of the
work of an answer that is not in the packet cache; dnslib's general-purpose
classes spend ~100 us on them.  This module does just those two things in
a few microseconds.  Anything unusual (compression in a question, other
records in a query, trailing bytes) returns None, and the caller falls back
to dnslib, which stays the reference for everything else.
"""

from __future__ import annotations

import socket
import struct

from . import answer as ans

_H = struct.Struct("!HHHHHH")
_TC = struct.Struct("!HH")
_RR = struct.Struct("!HHIH")


def parse_question(data: bytes):
    """(id, flags, name, qtype, qclass, opt) of a plain query, opt being
    None or (udp size, DO bit, options); None when the packet is not plain."""
    if len(data) < 17:
        return None
    qid, flags, qd, an, ns, ar = _H.unpack_from(data)
    if qd != 1 or an or ns or ar > 1:
        return None
    labels = []
    pos = 12
    end = len(data)
    while True:
        if pos >= end:
            return None
        n = data[pos]
        if n == 0:
            pos += 1
            break
        if n & 0xC0 or pos + 1 + n > end:
            return None
        label = data[pos + 1:pos + 1 + n]
        if b"." in label or not label.isascii():
            return None
        labels.append(label)
        pos += 1 + n
    if pos + 4 > end or pos - 12 > 255:
        return None
    qtype, qclass = _TC.unpack_from(data, pos)
    pos += 4
    opt = None
    if ar:
        if pos + 11 > end or data[pos] != 0:
            return None
        rtype, size, ttl, rdlen = _RR.unpack_from(data, pos + 1)
        pos += 11
        if rtype != ans.OPT or pos + rdlen != end:
            return None
        options = []
        o = pos
        while o < end:
            if o + 4 > end:
                return None
            code, length = _TC.unpack_from(data, o)
            if o + 4 + length > end:
                return None
            options.append((code, data[o + 4:o + 4 + length]))
            o += 4 + length
        opt = (max(512, size), bool(ttl & 0x8000), tuple(options))
        pos = end
    if pos != end:
        return None
    name = (b".".join(labels) + b".").decode("ascii")
    return qid, flags, name, qtype, qclass, opt


class _Writer:
    __slots__ = ("buf", "names")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.names: dict[str, int] = {}

    def name(self, name: str, compress: bool = True) -> None:
        buf = self.buf
        name = name.rstrip(".")
        if not name:
            buf.append(0)
            return
        lower = name.lower()
        names = self.names
        pos = 0
        while True:
            suffix = lower[pos:]
            if compress and suffix in names:
                buf += struct.pack("!H", 0xC000 | names[suffix])
                return
            if len(buf) < 0x3FFF and suffix not in names:
                names[suffix] = len(buf)
            dot = name.find(".", pos)
            raw = (name[pos:] if dot < 0 else name[pos:dot]).encode()
            buf.append(len(raw))
            buf += raw
            if dot < 0:
                break
            pos = dot + 1
        buf.append(0)

    def rr(self, rr: ans.RR) -> None:
        self.name(rr.name)
        t, d = rr.type, rr.data
        buf = self.buf
        start = len(buf)
        buf += _RR.pack(t, rr.cls, rr.ttl, 0)
        rd = len(buf)
        if isinstance(d, (bytes, bytearray)):  # rdata already in wire form (DNSSEC records)
            buf += d
        elif t == ans.A:
            buf += socket.inet_pton(socket.AF_INET, d)
        elif t == ans.AAAA:
            buf += socket.inet_pton(socket.AF_INET6, d)
        elif t in (ans.CNAME, ans.NS, ans.PTR):
            self.name(d)
        elif t == ans.MX:
            buf += struct.pack("!H", d[0])
            self.name(d[1])
        elif t == ans.SRV:
            buf += struct.pack("!HHH", d[0], d[1], d[2])
            self.name(d[3], compress=False)  # RFC 2782: the target is not compressed
        elif t == ans.TXT:
            for s in d:
                raw = s.encode() if isinstance(s, str) else s
                buf.append(len(raw))
                buf += raw
        elif t == ans.SOA:
            self.name(d[0])
            self.name(d[1])
            buf += struct.pack("!IIIII", *d[2:7])
        else:
            raise ValueError(f"cannot encode type {t}")
        struct.pack_into("!H", buf, start + 8, len(buf) - rd)


def encode(qid: int, flags: int, qname: str, qtype: int, qclass: int, answer, authority, additional,
           opt: tuple[int, bool] | None) -> bytes:
    """A reply packet; ``flags`` is the full header flags word."""
    w = _Writer()
    n_ar = len(additional) + (1 if opt else 0)
    w.buf += _H.pack(qid, flags, 1, len(answer), len(authority), n_ar)
    w.name(qname)
    w.buf += _TC.pack(qtype, qclass)
    for rr in answer:
        w.rr(rr)
    for rr in authority:
        w.rr(rr)
    for rr in additional:
        w.rr(rr)
    if opt:
        w.buf += b"\x00" + _RR.pack(ans.OPT, opt[0], 0x8000 if opt[1] else 0, 0)
    return bytes(w.buf)
