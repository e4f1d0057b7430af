"""Question + store snapshot + config -> reply, as one pure function.

This is where skydns's answer rules live (spec section 5): how leaves become
A/AAAA/CNAME/SRV/MX/TXT/PTR/NS/SOA records, groups, wildcards, targetstrip,
NXDOMAIN versus NODATA, the minimum-TTL rule.  Nothing here opens a socket
or reads a clock: the caller passes ``now`` and, for CNAME chains that leave
the zone, the answers it already fetched from the forwarders (``external``).
A reply that needs such a lookup lists it in ``needs``; the caller resolves
those and calls again.  That keeps every rule testable with plain tables.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Iterable, Mapping, NamedTuple

from . import msg
from .config import Config
from .store import Leaf, Store

# types and classes, by number, as on the wire
A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, OPT, DNSKEY, ANY = 1, 2, 5, 6, 12, 15, 16, 28, 33, 41, 48, 255
IN, CH = 1, 3
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5

MAX_CHAIN = 8


class RR(NamedTuple):
    """One resource record; ``data`` is the IP or target name for A, AAAA,
    CNAME, NS and PTR, a tuple for SRV (priority, weight, port, target), MX
    (preference, host), TXT (strings) and SOA (mname, rname, serial,
    refresh, retry, expire, minimum)."""

    name: str
    type: int
    ttl: int
    data: object
    cls: int = IN


class Question(NamedTuple):
    name: str
    type: int
    cls: int = IN


@dataclass
class Reply:
    rcode: int = NOERROR
    aa: bool = True
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)
    #: send the whole question to the forwarders instead
    forward: bool = False
    #: (name, type) lookups outside the zone this reply waits for
    needs: set[tuple[str, int]] = field(default_factory=set)
    #: metrics label: auth, recursive, reverse, stub, cache
    system: str = "auth"
    #: (store node, version) pairs this reply was read from; None: not from the store
    deps: list | None = None
    #: TTLs that count down (etcd leases): the packet cannot be reused as is
    volatile: bool = False
    #: authenticated data (a signed reply)
    ad: bool = False


External = Mapping[tuple[str, int], list[RR]]


def answer(q: Question, store: Store, cfg: Config, now: float, external: External | None = None,
           dnskey: RR | None = None) -> Reply:
    ctx = _Ctx(store, cfg, now, external or {})
    name = q.name
    lname = name.lower()
    if q.type == ANY:
        return Reply(rcode=REFUSED, aa=False)
    if q.cls == CH:
        return _chaos(q, cfg)
    if q.cls != IN:
        return Reply(rcode=REFUSED, aa=False)
    if q.type == PTR and lname.endswith((".in-addr.arpa.", ".ip6.arpa.")) and not msg.in_domain(lname, cfg.domain):
        return _reverse(q, ctx)
    if not msg.in_domain(lname, cfg.domain):
        return Reply(forward=True, aa=False, system="recursive")
    if not store.synced:
        return Reply(rcode=SERVFAIL, aa=False)
    lookup = cfg.local if (cfg.local and lname == cfg.local_alias) else lname
    reply = Reply()
    if lname == cfg.domain and q.type == SOA:
        reply.answer = [_soa(cfg, now, name, cfg.ttl)]
    elif lname == cfg.domain and q.type == NS:
        reply.answer, reply.additional = _ns(name, ctx)
    elif lname == cfg.domain and q.type == DNSKEY and dnskey is not None:
        reply.answer = [dnskey._replace(name=name)]
    elif not ctx.exists(lookup) and lname != cfg.domain:
        return Reply(rcode=NXDOMAIN, authority=[_soa(cfg, now, cfg.domain, cfg.min_ttl)], deps=ctx.deps)
    elif q.type in (A, AAAA):
        reply.answer = ctx.addresses(name, lookup, q.type, [], both=False, forward_ok=True)
    elif q.type == CNAME:
        reply.answer = _cname(name, lookup, ctx)
    elif q.type == TXT:
        reply.answer = [_txt(name, lf, ctx) for lf in ctx.services(lookup) if lf.service.text]
    elif q.type == SRV:
        reply.answer, reply.additional = _srv(name, lookup, ctx)
    elif q.type == MX:
        reply.answer, reply.additional = _mx(name, lookup, ctx)
    reply.needs = ctx.needs
    reply.deps = ctx.deps
    reply.volatile = ctx.volatile
    return finish(reply, cfg, now)


def exists(store: Store, name: str) -> bool:
    """Whether any key lies at or below ``name``."""
    try:
        return store.find(_parts(name)) is not None
    except msg.RecordError:
        return False


def types_at(store: Store, name: str) -> set[int]:
    """The question types ``name`` has an answer for (for NSEC3 bitmaps)."""
    try:
        leaves = group(store.find(_parts(name)) or [])
    except msg.RecordError:
        return set()
    out = set()
    for leaf in leaves:
        s = leaf.service
        ip = _ip(s.host) if s.host else None
        if s.host:
            out.add(CNAME if ip is None else A if ip.version == 4 else AAAA)
            out.add(SRV)
        if s.mail:
            out.add(MX)
        if s.text:
            out.add(TXT)
    if CNAME in out and len(out - {CNAME, SRV}) > 0:
        out.discard(CNAME)  # names with addresses are not followed as CNAMEs
    return out


def finish(reply: Reply, cfg: Config, now: float) -> Reply:
    """De-duplicate, apply the minimum-TTL rule, and add the SOA of NODATA."""
    reply.answer = _dedup(reply.answer)
    reply.additional = _dedup(reply.additional)
    if len(reply.answer) > 1:
        low = min(rr.ttl for rr in reply.answer)
        reply.answer = [rr._replace(ttl=low) for rr in reply.answer]
    if reply.rcode == NOERROR and not reply.answer and not reply.authority:
        reply.authority = [_soa(cfg, now, cfg.domain, cfg.min_ttl)]
    return reply


class _Ctx:
    """One question's view of the store; collects outside lookups it needs."""

    def __init__(self, store: Store, cfg: Config, now: float, external: External) -> None:
        self.store, self.cfg, self.now, self.external = store, cfg, now, external
        self.needs: set[tuple[str, int]] = set()
        self.deps: list = []
        self.volatile = False

    def exists(self, name: str) -> bool:
        try:
            return self.store.find(_parts(name), self.deps) is not None
        except msg.RecordError:
            return False

    def services(self, name: str) -> list[Leaf]:
        try:
            return group(self.store.find(_parts(name), self.deps) or [])
        except msg.RecordError:
            return []

    def ttl(self, leaf: Leaf) -> int:
        ttl = leaf.service.ttl or self.cfg.ttl
        if leaf.expires is not None:
            self.volatile = True
            ttl = min(ttl, max(1, int(leaf.expires - self.now)))
        return ttl

    def priority(self, leaf: Leaf) -> int:
        return leaf.service.priority or self.cfg.priority

    def leaf_name(self, leaf: Leaf) -> str:
        return msg.name_of(leaf.key, self.store.prefix)

    def addresses(self, owner: str, lookup: str, qtype: int, chain: list[RR], both: bool,
                  forward_ok: bool) -> list[RR]:
        """A/AAAA (``both``: either) records for ``lookup``, following CNAMEs."""
        out: list[RR] = []
        leaves = self.services(lookup)
        # a CNAME must stand alone at its owner: when some leaves hold
        # addresses (a headless service, whose SRV leaves name its pods),
        # the leaves holding names are not followed
        addressed = any(_ip(lf.service.host) is not None for lf in leaves)
        for leaf in leaves:
            host = leaf.service.host
            ip = _ip(host)
            if ip is None:
                if not host or addressed:
                    continue
                target = msg.fqdn(host)
                if target.lower() == owner.lower() or len(chain) >= MAX_CHAIN:
                    continue
                cname = RR(owner, CNAME, self.ttl(leaf), target)
                if any(c.data.lower() == target.lower() or c.name.lower() == target.lower() for c in chain):
                    continue  # loop
                if msg.in_domain(target, self.cfg.domain):
                    rest = self.addresses(target, target.lower(), qtype, chain + [cname], both, forward_ok)
                    if rest:
                        out.append(cname)
                        out.extend(rest)
                    continue
                if not forward_ok:
                    continue
                found = self.external.get((target.lower(), qtype))
                if found is None:
                    self.needs.add((target.lower(), qtype))
                elif found:
                    out.append(cname)
                    out.extend(found)
            elif ip.version == 4 and (qtype == A or both):
                out.append(RR(owner, A, self.ttl(leaf), str(ip)))
            elif ip.version == 6 and (qtype == AAAA or both):
                out.append(RR(owner, AAAA, self.ttl(leaf), str(ip)))
        return out

    def glue(self, target: str) -> list[RR]:
        """Addresses of an in-zone target for the additional section."""
        if not msg.in_domain(target, self.cfg.domain):
            return []
        return self.addresses(target, target.lower(), A, [], both=True, forward_ok=False)


def _parts(name: str) -> list[str]:
    return list(reversed(msg.labels(name)))


def _ip(host: str):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def group(leaves: list[Leaf]) -> list[Leaf]:
    """The shortest keys carrying a ``group`` set the group; leaves of another
    group are dropped; when those shortest keys disagree, grouping is off."""
    grouped = [lf for lf in leaves if lf.service.group]
    if not grouped:
        return leaves
    depth = min(lf.depth for lf in grouped)
    names = {lf.service.group for lf in grouped if lf.depth == depth}
    if len(names) > 1:
        return leaves
    (g,) = names
    return [lf for lf in leaves if lf.service.group in ("", g)]


def _soa(cfg: Config, now: float, owner: str, ttl: int) -> RR:
    serial = int(now) // 3600 * 3600
    return RR(owner, SOA, ttl, (cfg.ns_name, cfg.soa_mbox, serial & 0xFFFFFFFF, 28800, 7200, 604800, cfg.min_ttl))


def _ns(owner: str, ctx: _Ctx) -> tuple[list[RR], list[RR]]:
    records, extra = [], []
    for leaf in ctx.services(ctx.cfg.ns_name):
        ip = _ip(leaf.service.host)
        if ip is None:
            continue  # an NS leaf must hold the server's address
        target = ctx.leaf_name(leaf)
        records.append(RR(owner, NS, ctx.ttl(leaf), target))
        extra.append(RR(target, A if ip.version == 4 else AAAA, ctx.ttl(leaf), str(ip)))
    return records, extra


def _cname(owner: str, lookup: str, ctx: _Ctx) -> list[RR]:
    _, leaf = ctx.store.exact(_parts(lookup), ctx.deps)
    if leaf is None or not leaf.service.host or _ip(leaf.service.host) is not None:
        return []
    return [RR(owner, CNAME, ctx.ttl(leaf), msg.fqdn(leaf.service.host))]


def _txt(owner: str, leaf: Leaf, ctx: _Ctx) -> RR:
    return RR(owner, TXT, ctx.ttl(leaf), tuple(split_txt(leaf.service.text)))


def split_txt(text: str) -> Iterable[str]:
    """TXT character-strings hold at most 255 bytes."""
    data = text.encode()
    for i in range(0, len(data), 255):
        yield data[i:i + 255].decode(errors="replace")


def _srv(owner: str, lookup: str, ctx: _Ctx) -> tuple[list[RR], list[RR]]:
    leaves = ctx.services(lookup)
    totals: dict[int, int] = {}
    for leaf in leaves:
        p = ctx.priority(leaf)
        totals[p] = totals.get(p, 0) + (leaf.service.weight or 100)
    records, extra, seen = [], [], set()
    for leaf in leaves:
        s = leaf.service
        p = ctx.priority(leaf)
        weight = int(100.0 / totals[p] * (s.weight or 100))
        ttl = ctx.ttl(leaf)
        ip = _ip(s.host)
        host = msg.fqdn(s.host) if ip is None else ctx.leaf_name(leaf)
        target = msg.target_strip(host, s.targetstrip) if s.host else host
        records.append(RR(owner, SRV, ttl, (p, weight, s.port, target)))
        if ip is not None:
            extra.append(RR(target, A if ip.version == 4 else AAAA, ttl, str(ip)))
        elif target.lower() not in seen:
            seen.add(target.lower())
            extra.extend(ctx.glue(target))
    return records, extra


def _mx(owner: str, lookup: str, ctx: _Ctx) -> tuple[list[RR], list[RR]]:
    records, extra, seen = [], [], set()
    for leaf in ctx.services(lookup):
        s = leaf.service
        if not s.mail:
            continue
        ttl = ctx.ttl(leaf)
        ip = _ip(s.host)
        host = msg.fqdn(s.host) if ip is None else ctx.leaf_name(leaf)
        records.append(RR(owner, MX, ttl, (ctx.priority(leaf), host)))
        if ip is not None:
            extra.append(RR(host, A if ip.version == 4 else AAAA, ttl, str(ip)))
        elif host.lower() not in seen:
            seen.add(host.lower())
            extra.extend(ctx.glue(host))
    return records, extra


def _reverse(q: Question, ctx: _Ctx) -> Reply:
    try:
        parts = _parts(q.name)
    except msg.RecordError:
        parts = None
    leaf = None
    if parts and not msg.has_wildcard(parts) and ctx.store.synced:
        _, leaf = ctx.store.exact(parts)
    if leaf is None or not leaf.service.host:
        return Reply(forward=True, aa=False, system="reverse")
    rr = RR(q.name, PTR, ctx.ttl(leaf), msg.fqdn(leaf.service.host))
    return Reply(aa=False, answer=[rr], system="reverse")


AUTHORS = ("skydns-stack contributors",)


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


def _dedup(rrs: list[RR]) -> list[RR]:
    out, seen, cnames = [], set(), set()
    for rr in rrs:
        owner = rr.name.lower()
        if rr.type == CNAME:
            if owner in cnames:
                continue  # one CNAME per owner
            cnames.add(owner)
        key = (owner, rr.type, rr.cls, rr.data if rr.type == TXT else _fold(rr.data))
        if key in seen:
            continue
        seen.add(key)
        out.append(rr)
    return out


def _fold(data: object) -> object:
    if isinstance(data, str):
        return data.lower()
    if isinstance(data, tuple):
        return tuple(_fold(d) for d in data)
    return data
