"""The tree as a hosts file, a BIND zone file or a CoreDNS Corefile.

Pure: a store in, text out.  Hosts and zone ask the server's own answer
logic (:func:`skydns.answer.answer`) the questions a client would, so they
list what skydns answers (SRV weights shared out per priority, an IP target
named after its leaf with its address as glue, groups, CNAME rules) and
never a rule of their own.  The Corefile serves the same etcd prefix with
CoreDNS's etcd plugin, so a cluster can move to CoreDNS without moving its
data.
"""

from __future__ import annotations

from typing import Iterable

from skydns.answer import answer
from skydns.config import Config
from skydns.dnsdata import A, AAAA, CNAME, MX, NS, SOA, SRV, TXT, RR, Question
from skydns.rrsets import types_at
from skydns.store import Store
from skydns_common import msg

_TYPE_NAMES = {A: "A", AAAA: "AAAA", CNAME: "CNAME", MX: "MX", NS: "NS", SOA: "SOA", SRV: "SRV", TXT: "TXT"}
#: stands for whatever a name outside the zone resolves to: never the lowest TTL
_OUTSIDE_TTL = 0xFFFFFFFF


def records(q: Question, store: Store, cfg: Config, now: float) -> list[RR]:
    """What the server answers for ``q`` with ``q.name`` as owner, and the
    additional records (glue) it sends along.  A CNAME chain that leaves the
    zone is completed as the server completes it, with the outside name
    taken to resolve: the CNAME shows, the outside records do not."""
    reply = answer(q, store, cfg, now)
    if reply.needs:
        outside = {need: [RR(need[0], need[1], _OUTSIDE_TTL, "")] for need in reply.needs}
        reply = answer(q, store, cfg, now, outside)
    owner = q.name.lower()
    return [rr for rr in reply.answer if rr.name.lower() == owner] + reply.additional


def hosts(store: Store, names: Iterable[str], cfg: Config, now: float) -> str:
    """``IP<tab>name`` for each address the server answers for ``names``."""
    lines = set()
    for name in names:
        for t in (A, AAAA):
            for rr in records(Question(name, t), store, cfg, now):
                if rr.type == t and rr.name.lower() == name.lower():
                    lines.add((rr.data, name.rstrip(".")))
    return "".join(f"{ip}\t{name}\n" for ip, name in sorted(lines))


def _rel(name: str, origin: str) -> str:
    if name == origin:
        return "@"
    return name[: -len(origin) - 1] if name.endswith("." + origin) else name


def _rdata(rr: RR) -> str:
    """Record data in zone-file form (TXT strings quoted and escaped)."""
    d = rr.data
    if isinstance(d, tuple):
        if rr.type == TXT:
            return " ".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in d)
        return " ".join(str(x) for x in d)
    return str(d)


def zone(store: Store, names: Iterable[str], cfg: Config, now: float) -> str:
    """A BIND zone: the apex's SOA and NS, then for every name in ``names``
    (those inside the domain) what the server answers for each type it has
    (:func:`skydns.rrsets.types_at`; a CNAME is asked as the A question
    that the server answers with it)."""
    domain = cfg.domain
    (soa,) = answer(Question(domain, SOA), store, cfg, now).answer
    out = [f"$ORIGIN {domain}", f"@\t{soa.ttl}\tIN\tSOA\t{_rdata(soa)}"]
    questions = [Question(domain, NS)]
    for name in sorted({n.lower() for n in names if msg.in_domain(n, domain)}):
        questions += [Question(name, t) for t in sorted({A if t == CNAME else t for t in types_at(store, name)})]
    lines = set()
    for q in questions:
        for rr in records(q, store, cfg, now):
            if rr.type != SOA and msg.in_domain(rr.name, domain):
                lines.add((rr.name.lower(), rr.ttl, _TYPE_NAMES[rr.type], _rdata(rr)))
    for n, ttl, t, data in sorted(lines):
        out.append(f"{_rel(n, domain)}\t{ttl}\tIN\t{t}\t{data}")
    return "\n".join(out) + "\n"


def corefile(domain: str, prefix: str, endpoints: Iterable[str], nameservers: Iterable[str],
             cache_ttl: int, reverse: bool = True) -> str:
    domain = msg.fqdn(domain.lower())
    zones = [domain] + (["in-addr.arpa.", "ip6.arpa."] if reverse else [])
    forward = " ".join(nameservers) or "/etc/resolv.conf"
    lines = [
        "# Serves what skydns served, from the same etcd keys (CoreDNS etcd plugin).",
        f"{' '.join(zones)} {{",
        f"    etcd {' '.join(zones)} {{",
        f"        path /{prefix.strip('/')}",
        f"        endpoint {' '.join(endpoints)}",
    ]
    if reverse:
        lines.append("        fallthrough in-addr.arpa. ip6.arpa.")
    lines.append("    }")
    if reverse:
        lines.append(f"    forward . {forward}  # PTRs not in etcd, as skydns forwarded them")
    lines += [f"    cache {cache_ttl}", "    loadbalance", "    errors", "}",
              ". {", f"    forward . {forward}", f"    cache {cache_ttl}", "    errors", "}"]
    return "\n".join(lines) + "\n"
