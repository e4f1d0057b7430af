"""DNS messages <-> bytes, with dnslib; building a message never opens a socket.

The answer logic speaks in plain :class:`~skydns.dnsdata.RR` tuples; this
module reads a query packet into a :class:`Query`, turns a
:class:`~skydns.dnsdata.Reply` into a packet that fits the client's buffer
(additional section dropped first, then answers trimmed, TC set), and reads
forwarded answers back into tuples.
"""

from __future__ import annotations

import struct
from typing import Any, Final

from dnslib import DNSHeader, DNSLabel, DNSQuestion, DNSRecord, EDNS0, QTYPE

from . import dnsdata as dd
from . import codec
from .dnsdata import RR, Query, Reply

UDP_MIN: Final = codec.UDP_MIN
TCP_MAX: Final = 65535
#: EDNS0 payload size we advertise (DNS flag day 2020)
OUR_UDP_SIZE: Final = 1232


class Malformed(Exception):
    """A packet that is not a question we can answer; ``reply`` is what to
    send back (FORMERR/NOTIMP built from the header) or None to drop it."""

    def __init__(self, why: str, reply: bytes | None) -> None:
        super().__init__(why)
        self.reply = reply


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
    flags = data[2] << 8 | data[3]
    if flags & 0x8000:
        raise Malformed("a response, not a query", None)
    if (flags >> 11) & 0xF != 0:
        raise Malformed("opcode is not QUERY", header_reply(data, dd.NOTIMP))
    plain = codec.parse_question(data)
    if plain is not None:
        return plain
    try:
        record = DNSRecord.parse(data)
    except Exception as exc:  # noqa: BLE001 - dnslib raises several kinds on junk
        raise Malformed(f"cannot parse: {exc}", header_reply(data, dd.FORMERR)) from None
    if len(record.questions) != 1 or record.rr or record.auth:
        raise Malformed("not exactly one question", header_reply(data, dd.FORMERR))
    q = record.questions[0]
    try:
        name = _name(q.qname)
    except Exception:  # noqa: BLE001
        raise Malformed("question name is not text", header_reply(data, dd.FORMERR)) from None
    options: tuple[tuple[int, bytes], ...] = ()
    edns, size, do = False, UDP_MIN, False
    opts = [rr for rr in record.ar if rr.rtype == QTYPE.OPT]
    if len(opts) > 1:
        raise Malformed("more than one OPT", header_reply(data, dd.FORMERR))
    if opts:
        edns = True
        size = max(UDP_MIN, opts[0].rclass)
        do = bool(opts[0].ttl & 0x8000)
        options = tuple((o.code, bytes(o.data)) for o in opts[0].rdata if hasattr(o, "code"))
    return Query(record.header.id, flags, dd.Question(name, q.qtype, q.qclass), edns, size, do, options)


def _name(label: DNSLabel) -> str:
    parts = []
    for raw in label.label:
        text = raw.decode("ascii")
        if "." in text:
            raise ValueError("dot inside a label")
        parts.append(text)
    return ".".join(parts) + "."


def udp_limit(query: Query) -> int:
    """The most a UDP reply may carry: what the client can take, and never
    more than we advertise, whatever EDNS size it claims (RFC 9715: a small
    question must not draw a large datagram)."""
    return min(query.udp_size, OUR_UDP_SIZE)


def build(query: Query, reply: Reply, tcp: bool, ra: bool = True) -> bytes:
    """The reply packet, fitted to the limit (:func:`udp_limit` over UDP):
    the additional section goes first, then answers are halved until it
    fits, with TC set."""
    q = query.question
    flags = 0x8000 | (query.flags & 0x0110) | (0x0400 if reply.aa else 0) | (0x0080 if ra else 0) | \
        (0x0020 if reply.ad else 0) | (reply.rcode & 0xF)  # QR, RD and CD echoed, AA, RA, AD, RCODE
    opt = (OUR_UDP_SIZE, query.do) if query.edns else None
    answer, authority, additional = reply.answer, reply.authority, reply.additional
    data = codec.encode(query.id, flags, q.name, q.type, q.cls, answer, authority, additional, opt, query.raw)
    limit = TCP_MAX if tcp else udp_limit(query)
    if len(data) <= limit:
        return data
    data = codec.encode(query.id, flags, q.name, q.type, q.cls, answer, authority, (), opt, query.raw)
    if len(data) <= limit:
        return data
    flags |= 0x0200
    keep = len(answer)
    while len(data) > limit and (answer or authority):
        keep = keep // 2 if keep > 1 else 0
        answer = answer[:keep]
        if keep == 0:
            authority = []
        data = codec.encode(query.id, flags, q.name, q.type, q.cls, answer, authority, (), opt, query.raw)
    return data


def fit_udp(packet: bytes, limit: int = OUR_UDP_SIZE) -> bytes:
    """A relayed reply as it may go out over UDP: unchanged when within
    ``limit`` (:func:`udp_limit` of the client's question), else its header
    and question with TC set (the client asks again over TCP)."""
    if len(packet) <= limit:
        return packet
    try:
        record = DNSRecord.parse(packet)
    except Exception:  # noqa: BLE001 - an upstream's odd packet: its bare header, truncated
        qid, flags = struct.unpack("!HH", packet[:4])
        return struct.pack("!HHHHHH", qid, flags | 0x0200, 0, 0, 0, 0)
    record.rr, record.auth = [], []
    record.ar = [rr for rr in record.ar if rr.rtype == QTYPE.OPT]
    record.header.tc = 1
    return bytes(record.pack())


def from_packet(data: bytes) -> tuple[int, list[RR]]:
    """(rcode, answer records) of a forwarded reply, as plain tuples; records
    of types the answer logic does not model are left out."""
    record = DNSRecord.parse(data)
    out = []
    for rr in record.rr:
        d = rr.rdata
        name = str(rr.rname)
        data_: Any  # its shape follows the type, as dd.RR's
        if rr.rtype in (dd.A, dd.AAAA):
            data_ = str(d)
        elif rr.rtype in (dd.CNAME, dd.NS, dd.PTR):
            data_ = str(d.label)
        elif rr.rtype == dd.MX:
            data_ = (d.preference, str(d.label))
        elif rr.rtype == dd.SRV:
            data_ = (d.priority, d.weight, d.port, str(d.target))
        elif rr.rtype == dd.TXT:
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
