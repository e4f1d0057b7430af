"""The tree as a hosts file, a BIND zone file or a CoreDNS Corefile.

Pure: rows in, text out.  The zone follows skydns's answer rules (SRV
weights shared out per priority, an IP target named after its leaf with the
address as glue); the Corefile serves the same etcd prefix with CoreDNS's
etcd plugin, so a cluster can move to CoreDNS without moving its data.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable

from skydns_common import msg
from .records import Row, ip_version


def hosts(rows: Iterable[Row]) -> str:
    lines = sorted({(r.host, r.name.rstrip(".")) for r in rows if r.service.host and ip_version(r.service.host)})
    return "".join(f"{ip}\t{name}\n" for ip, name in lines)


def _rel(name: str, origin: str) -> str:
    if name == origin:
        return "@"
    return name[: -len(origin) - 1] if name.endswith("." + origin) else name


def zone(rows: Iterable[Row], domain: str, serial: int, mbox: str, min_ttl: int = 60, priority: int = 10) -> str:
    domain = msg.fqdn(domain.lower())
    rows = [r for r in rows if msg.in_domain(r.name, domain)]
    out = [f"$ORIGIN {domain}", f"@\t3600\tIN\tSOA\tns.dns.{domain} {mbox} {serial} 28800 7200 604800 {min_ttl}"]
    recs: set[tuple[str, int, str, str]] = set()
    ns_base = "ns.dns." + domain
    totals: dict[tuple[str, int], int] = defaultdict(int)
    for r in rows:
        if "SRV" in r.types:
            totals[(r.name, r.service.priority or priority)] += r.service.weight or 100
    for r in rows:
        s, ttl = r.service, r.ttl
        v = ip_version(s.host) if s.host else 0
        leaf = msg.name_of(r.key, r.key.split("/")[1])
        if msg.in_domain(r.name, ns_base) and v:
            recs.add((domain, ttl, "NS", leaf))
            recs.add((leaf, ttl, "A" if v == 4 else "AAAA", s.host))
            continue
        if v:
            recs.add((r.name, ttl, "A" if v == 4 else "AAAA", s.host))
        elif s.host:
            recs.add((r.name, ttl, "CNAME", msg.fqdn(s.host)))
        if "SRV" in r.types:
            p = s.priority or priority
            weight = math.floor(100.0 / totals[(r.name, p)] * (s.weight or 100))
            target = msg.target_strip(leaf if v else msg.fqdn(s.host), s.targetstrip)
            recs.add((r.name, ttl, "SRV", f"{p} {weight} {s.port} {target}"))
            if v and target != r.name:
                recs.add((target, ttl, "A" if v == 4 else "AAAA", s.host))
        if s.mail:
            recs.add((r.name, ttl, "MX", f"{s.priority or priority} {leaf if v else msg.fqdn(s.host)}"))
        if s.text:
            recs.add((r.name, ttl, "TXT", '"' + s.text.replace("\\", "\\\\").replace('"', '\\"') + '"'))
    # a name with addresses cannot also be a CNAME (skydns does not follow it either)
    addressed = {n for n, _, t, _ in recs if t in ("A", "AAAA")}
    for n, ttl, t, data in sorted(recs):
        if t == "CNAME" and n in addressed:
            continue
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
