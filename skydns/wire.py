"""DNS messages <-> bytes, with dnslib; building a message never opens a socket.

The answer logic speaks in plain :class:`~skydns.answer.RR` tuples; this
module reads a query packet into a :class:`Query`, turns a
:class:`~skydns.answer.Reply` into a packet that fits the client's buffer
(additional section dropped first, then answers trimmed, TC set), and reads
forwarded answers back into tuples.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dnslib import (AAAA, CNAME, DNSHeader, DNSQuestion, DNSRecord, EDNS0, MX, NS, PTR, QTYPE,
                    RR as DRR, SOA, SRV, TXT, A as DA, DNSLabel)

from . import answer as ans
from .answer import RR, Reply

UDP_MIN = 512
TCP_MAX = 65535
#: EDNS0 payload size we advertise (DNS flag day 2020)
OUR_UDP_SIZE = 1232


class Malformed(Exception):
    """A packet that is not a question we can answer; ``reply`` is what to
    send back (FORMERR/NOTIMP built from the header) or None to drop it."""

    def __init__(self, why: str, reply: bytes | None) -> None:
        super().__init__(why)
        self.reply = reply


@dataclass
class Query:
    record: DNSRecord
    question: ans.Question
    edns: bool
    udp_size: int
    do: bool
    options: tuple[tuple[int, bytes], ...] = ()

    @property
    def id(self) -> int:
        return self.record.header.id


def header_reply(data: bytes, rcode: int) -> bytes | None:
    """A bare reply (no sections) echoing the ID and opcode of a packet whose
    header could be read; None when not even that (or it is a response)."""
    if len(data) < 12:
        return None
    qid, flags = struct.unpack("!HH", data[:4])
    if flags & 0x8000:
        return None  # a response: never answer it, that way lies a loop
    opcode = (flags >> 11) & 0xF
    rd = flags & 0x0100
    out_flags = 0x8000 | (opcode << 11) | rd | (rcode & 0xF)
    return struct.pack("!HHHHHH", qid, out_flags, 0, 0, 0, 0)


def parse_query(data: bytes) -> Query:
    if len(data) < 12:
        raise Malformed("shorter than a header", None)
    flags = struct.unpack("!H", data[2:4])[0]
    if flags & 0x8000:
        raise Malformed("a response, not a query", None)
    if (flags >> 11) & 0xF != 0:
        raise Malformed("opcode is not QUERY", header_reply(data, ans.NOTIMP))
    try:
        record = DNSRecord.parse(data)
    except Exception as exc:  # noqa: BLE001 - dnslib raises several kinds on junk
        raise Malformed(f"cannot parse: {exc}", header_reply(data, ans.FORMERR)) from None
    if len(record.questions) != 1 or record.rr or record.auth:
        raise Malformed("not exactly one question", header_reply(data, ans.FORMERR))
    q = record.questions[0]
    try:
        name = _name(q.qname)
    except Exception:  # noqa: BLE001
        raise Malformed("question name is not text", header_reply(data, ans.FORMERR)) from None
    edns, size, do, options = False, UDP_MIN, False, ()
    opts = [rr for rr in record.ar if rr.rtype == QTYPE.OPT]
    if len(opts) > 1:
        raise Malformed("more than one OPT", header_reply(data, ans.FORMERR))
    if opts:
        edns = True
        size = max(UDP_MIN, opts[0].rclass)
        do = bool(opts[0].ttl & 0x8000)
        options = tuple((o.code, bytes(o.data)) for o in opts[0].rdata if hasattr(o, "code"))
    return Query(record, ans.Question(name, q.qtype, q.qclass), edns, size, do, options)


def _name(label: DNSLabel) -> str:
    parts = []
    for raw in label.label:
        text = raw.decode("ascii")
        if "." in text:
            raise ValueError("dot inside a label")
        parts.append(text)
    return ".".join(parts) + "."


def _rdata(rr: RR):
    t, d = rr.type, rr.data
    if t == ans.A:
        return DA(d)
    if t == ans.AAAA:
        return AAAA(d)
    if t == ans.CNAME:
        return CNAME(d)
    if t == ans.NS:
        return NS(d)
    if t == ans.PTR:
        return PTR(d)
    if t == ans.MX:
        return MX(d[1], d[0])
    if t == ans.SRV:
        return SRV(d[0], d[1], d[2], d[3])
    if t == ans.TXT:
        return TXT([s.encode() if isinstance(s, str) else s for s in d])
    if t == ans.SOA:
        return SOA(d[0], d[1], d[2:])
    raise ValueError(f"cannot encode type {t}")


def _drr(rr: RR) -> DRR:
    return DRR(rr.name, rr.type, rr.cls, rr.ttl, _rdata(rr))


def build(query: Query, reply: Reply, *, tcp: bool, ra: bool = True) -> bytes:
    """The reply packet, fitted to the client's limit."""
    hq = query.record.header
    header = DNSHeader(id=hq.id, qr=1, aa=int(reply.aa), rd=hq.rd, ra=int(ra), rcode=reply.rcode)
    q = query.question
    msg = DNSRecord(header, q=DNSQuestion(q.name, q.type, q.cls))
    msg.rr = [_drr(rr) for rr in reply.answer]
    msg.auth = [_drr(rr) for rr in reply.authority]
    extra = [_drr(rr) for rr in reply.additional]
    opt = [EDNS0(udp_len=OUR_UDP_SIZE, flags="do" if query.do else "")] if query.edns else []
    msg.ar = extra + opt
    data = msg.pack()
    limit = TCP_MAX if tcp else query.udp_size
    if len(data) <= limit:
        return bytes(data)
    msg.ar = opt
    data = msg.pack()
    if len(data) <= limit:
        return bytes(data)
    header.tc = 1
    keep = len(msg.rr)
    while len(data) > limit and (msg.rr or msg.auth):
        keep = keep // 2 if keep > 1 else 0
        msg.rr = msg.rr[:keep]
        if keep == 0:
            msg.auth = []
        data = msg.pack()
    return bytes(data)


def from_packet(data: bytes) -> tuple[int, list[RR]]:
    """(rcode, answer records) of a forwarded reply, as plain tuples; records
    of types the answer logic does not model are left out."""
    record = DNSRecord.parse(data)
    out = []
    for rr in record.rr:
        d = rr.rdata
        name = str(rr.rname)
        if rr.rtype in (ans.A, ans.AAAA):
            data_ = str(d)
        elif rr.rtype in (ans.CNAME, ans.NS, ans.PTR):
            data_ = str(d.label)
        elif rr.rtype == ans.MX:
            data_ = (d.preference, str(d.label))
        elif rr.rtype == ans.SRV:
            data_ = (d.priority, d.weight, d.port, str(d.target))
        elif rr.rtype == ans.TXT:
            data_ = tuple(s.decode(errors="replace") for s in d.data)
        else:
            continue
        out.append(RR(name, rr.rtype, rr.ttl, data_, rr.rclass))
    return record.header.rcode, out


def with_option(packet: bytes, code: int, data: bytes) -> bytes:
    """The packet with an EDNS0 option added (an OPT record is added when
    there is none)."""
    from dnslib import EDNSOption

    rec = DNSRecord.parse(packet)
    opts = [rr for rr in rec.ar if rr.rtype == QTYPE.OPT]
    if opts:
        opts[0].rdata.append(EDNSOption(code, data))
    else:
        rec.add_ar(EDNS0(udp_len=OUR_UDP_SIZE, opts=[EDNSOption(code, data)]))
    return bytes(rec.pack())


def question_packet(name: str, qtype: int, qid: int, *, rd: bool = True, options=()) -> bytes:
    """A query for ``name``/``qtype`` with EDNS0 (for forwarding)."""
    from dnslib import EDNSOption

    rec = DNSRecord(DNSHeader(id=qid, rd=int(rd)), q=DNSQuestion(name, qtype))
    rec.add_ar(EDNS0(udp_len=OUR_UDP_SIZE, opts=[EDNSOption(c, d) for c, d in options]))
    return bytes(rec.pack())
