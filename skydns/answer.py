"""Question + store snapshot + config -> reply, as one pure function.

This is where skydns decides what kind of reply a question gets (spec
section 5): CHAOS, ANY refused, reverse lookups, forwarding, SERVFAIL until
the store is synced, the apex's SOA/NS/DNSKEY, NXDOMAIN versus NODATA, and
which record builder of :mod:`skydns.rrsets` answers.  Nothing here opens a
socket or reads a clock: the caller passes ``now`` and, for CNAME chains
that leave the zone, the answers it already fetched (``external``).  A
reply that needs such a lookup lists it in ``needs``; the caller resolves
those and calls again.  That keeps every rule testable with plain tables.
"""

from __future__ import annotations

from typing import Final

from skydns_common import msg
from .config import Config
from .dnsdata import (A, AAAA, ANY, CH, CNAME, DNSKEY, IN, MX, NOERROR, NS, NXDOMAIN, PTR, REFUSED, RR, SERVFAIL,
                      SOA, SRV, TXT, External, Question, Reply)
from .rrsets import (Lookup, cname_records, dedup, mx_records, ns_records, parts_of, soa, srv_records,
                     txt_record)
from .store import Store


def answer(q: Question, store: Store, cfg: Config, now: float, external: External | None = None,
           dnskey: RR | None = None) -> Reply:
    ctx = Lookup(store, cfg, now, external or {})
    name = q.name
    lname = name.lower()
    if q.type == ANY:
        return Reply(rcode=REFUSED, aa=False)
    if q.cls == CH:
        return _chaos(q, cfg)
    if q.cls != IN:
        return Reply(rcode=REFUSED, aa=False)
    domain = cfg.domain  # normalised: lower case, with the final dot
    inside = lname == domain or lname.endswith(cfg.dot_domain) or domain == "."
    if q.type == PTR and not inside and lname.endswith((".in-addr.arpa.", ".ip6.arpa.")):
        return _reverse(q, ctx)
    if not inside:
        return Reply(forward=True, aa=False, system="recursive")
    if not store.synced:
        return Reply(rcode=SERVFAIL, aa=False)
    lookup = cfg.local if (cfg.local and lname == cfg.local_alias) else lname
    apex = lname == domain
    if not apex and not ctx.exists(lookup):
        return Reply(rcode=NXDOMAIN, authority=[soa(cfg, now, cfg.domain, cfg.min_ttl)], deps=ctx.deps)
    reply = Reply()
    if apex and q.type == SOA:
        reply.answer = [soa(cfg, now, name, cfg.ttl)]
    elif apex and q.type == NS:
        reply.answer, reply.additional = ns_records(name, ctx)
    elif apex and q.type == DNSKEY and dnskey is not None:
        reply.answer = [dnskey._replace(name=name)]
    elif q.type in (A, AAAA):
        reply.answer = ctx.addresses(name, lookup, q.type, [], both=False, forward_ok=True)
    elif q.type == CNAME:
        reply.answer = cname_records(name, lookup, ctx)
    elif q.type == TXT:
        reply.answer = [txt_record(name, lf, ctx) for lf in ctx.services(lookup) if lf.service.text]
    elif q.type == SRV:
        reply.answer, reply.additional = srv_records(name, lookup, ctx)
    elif q.type == MX:
        reply.answer, reply.additional = mx_records(name, lookup, ctx)
    reply.needs = ctx.needs
    reply.deps = ctx.deps
    reply.volatile = ctx.volatile
    return finish(reply, cfg, now)


def finish(reply: Reply, cfg: Config, now: float) -> Reply:
    """De-duplicate, apply the minimum-TTL rule, and add the SOA of NODATA."""
    reply.answer = dedup(reply.answer)
    reply.additional = dedup(reply.additional)
    if len(reply.answer) > 1:
        low = min(rr.ttl for rr in reply.answer)
        reply.answer = [rr._replace(ttl=low) for rr in reply.answer]
    if reply.rcode == NOERROR and not reply.answer and not reply.authority:
        reply.authority = [soa(cfg, now, cfg.domain, cfg.min_ttl)]
    return reply


#: labels of a full reversed address (arpa, in-addr or ip6, then 4 octets or 32 nibbles)
_ADDRESS_DEPTH: Final = {"in-addr": 6, "ip6": 34}


def _reverse(q: Question, ctx: Lookup) -> Reply:
    try:
        parts = parts_of(q.name)
    except msg.RecordError:
        parts = None
    leaves = []
    if parts and not msg.has_wildcard(parts) and ctx.store.synced:
        # the leaf at a full reversed address and those one label below it
        # (an address that several headless services select has one PTR per
        # service); a partial name (a subnet) only the leaf at exactly it
        full = len(parts) == _ADDRESS_DEPTH.get(parts[1].lower() if len(parts) > 1 else "", 0)
        depth = len(parts) + 1 if full else len(parts)
        leaves = [lf for lf in ctx.store.find(parts) or [] if lf.depth <= depth and lf.service.host]
    if not leaves:
        return Reply(forward=True, aa=False, system="reverse")
    rrs = [RR(q.name, PTR, ctx.ttl(lf), msg.fqdn(lf.service.host)) for lf in leaves]
    return finish(Reply(aa=False, answer=rrs, system="reverse"), ctx.cfg, ctx.now)


AUTHORS: Final = ("skydns-stack contributors",)


def _chaos(q: Question, cfg: Config) -> Reply:
    from . import __version__

    lname = q.name.lower()
    texts: tuple[str, ...] | None = None
    if q.type == TXT:
        if lname in ("version.bind.", "version.server."):
            texts = (f"skydns {__version__}",)
        elif lname in ("hostname.bind.", "id.server."):
            texts = (cfg.hostname,)
        elif lname in ("authors.bind.", cfg.domain):
            texts = AUTHORS
    if texts is None:
        return Reply(rcode=SERVFAIL, aa=False)
    return Reply(answer=[RR(q.name, TXT, 0, (t,), CH) for t in texts])


