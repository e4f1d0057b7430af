"""``diff``: ask two DNS servers the same questions and report differences.

Used before a cut-over (skydns -> our skydns, or -> CoreDNS) to prove that
nothing a client sees changes.  By default the questions are every name and
type found in the store; answers are compared as sets of records (TTLs only
with ``--ttl``, since caches age them).
"""

from __future__ import annotations

import asyncio
import sys

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from skydns_common.addr import split_hostport
from . import records
from .store import from_args


def ask(server: str, name: str, qtype: str, timeout: float = 3.0):
    host, port = split_hostport(server)
    q = dns.message.make_query(name, qtype)
    try:
        r = dns.query.udp(q, host, port=port, timeout=timeout)
        if r.flags & dns.flags.TC:
            r = dns.query.tcp(q, host, port=port, timeout=timeout)
    except (dns.exception.DNSException, OSError) as exc:
        return ("NO ANSWER", type(exc).__name__)
    return r


def summary(r, with_ttl: bool):
    """(rcode, sorted records) of a reply, or the failure as (label, why)."""
    if isinstance(r, tuple):
        return r
    rrs = sorted(f"{rrset.name.to_text().lower()} {str(rrset.ttl) + ' ' if with_ttl else ''}"
                 f"{dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text().lower()}"
                 for rrset in r.answer for rd in rrset)
    return (dns.rcode.to_text(r.rcode()), tuple(rrs))


async def questions(args) -> list[tuple[str, str]]:
    if args.names_file:
        out = []
        with open(args.names_file, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                parts = line.split("#", 1)[0].split()
                if not parts:
                    continue
                if len(parts) > 2:
                    raise ValueError(f"{args.names_file} line {n}: expected 'name [TYPE]'")
                out.append((parts[0], parts[1].upper() if len(parts) == 2 else "A"))
        return out
    async with from_args(args) as etcd:
        rows, _ = records.rows(await etcd.tree(), etcd.prefix)
    qs = set()
    for r in rows:
        for t in r.types.split(","):
            if t in ("A", "AAAA", "CNAME", "SRV", "TXT", "MX"):
                qs.add((r.name, t))
    return sorted(qs)


async def run(args) -> int:
    qs = await questions(args)
    for server in (args.server_a, args.server_b):
        split_hostport(server)
    differences = 0
    for name, qtype in qs:
        a, b = await asyncio.gather(asyncio.to_thread(ask, args.server_a, name, qtype),
                                    asyncio.to_thread(ask, args.server_b, name, qtype))
        sa, sb = summary(a, args.ttl), summary(b, args.ttl)
        if sa != sb:
            differences += 1
            print(f"{name} {qtype}:")
            print(f"  {args.server_a}: {sa[0]} {'; '.join(sa[1]) if isinstance(sa[1], tuple) else sa[1]}")
            print(f"  {args.server_b}: {sb[0]} {'; '.join(sb[1]) if isinstance(sb[1], tuple) else sb[1]}")
    print(f"{len(qs)} questions, {differences} differences", file=sys.stderr)
    return 1 if differences else 0
