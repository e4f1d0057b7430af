"""Asking questions with dnspython, an independent client, and reading the
answers back as plain dicts that tables can compare."""

from __future__ import annotations

import dns.flags
import dns.rcode
import dns.message
import dns.query
import dns.rdataclass
import dns.rdatatype


def ask(port: int, name: str, qtype: str = "A", *, qclass: str = "IN", tcp: bool = False,
        timeout: float = 3.0, **kw) -> dns.message.Message:
    q = dns.message.make_query(name, qtype, qclass, **kw)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(q, "127.0.0.1", port=port, timeout=timeout)


def records(section) -> list[dict]:
    """One dict per record: name (as sent), ttl, type and the type's fields
    under the names the conformance files use."""
    out = []
    for rrset in section:
        for rd in rrset:
            r = {"name": rrset.name.to_text(), "ttl": rrset.ttl, "type": dns.rdatatype.to_text(rrset.rdtype),
                 "class": dns.rdataclass.to_text(rrset.rdclass)}
            t = r["type"]
            if t in ("A", "AAAA"):
                r["address"] = rd.address
            elif t == "CNAME":
                r["target"] = rd.target.to_text()
            elif t == "SRV":
                r.update(priority=rd.priority, weight=rd.weight, port=rd.port, target=rd.target.to_text())
            elif t == "MX":
                r.update(preference=rd.preference, mx=rd.exchange.to_text())
            elif t == "NS":
                r["ns"] = rd.target.to_text()
            elif t == "PTR":
                r["ptr"] = rd.target.to_text()
            elif t == "SOA":
                r.update(ns=rd.mname.to_text(), mbox=rd.rname.to_text(), serial=rd.serial, refresh=rd.refresh,
                         retry=rd.retry, expire=rd.expire, minttl=rd.minimum)
            elif t == "TXT":
                r["txt"] = [s.decode() for s in rd.strings]
            out.append(r)
    return out


def rcode(m: dns.message.Message) -> str:
    return dns.rcode.to_text(m.rcode())
