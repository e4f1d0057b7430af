"""Leaves of the store -> record sets, one question type at a time.

The rules of spec section 5 for each type: addresses with CNAME chains (and
the lookups outside the zone they wait for), SRV weights and IP targets,
MX, TXT, NS at the apex, groups, de-duplication.  Pure: a :class:`Lookup`
is one question's view of the store and collects the store nodes the
answer read (for the packet cache) and the outside lookups it needs.
"""

from __future__ import annotations

from typing import Final, Iterable

from skydns_common import msg
from .config import Config
from .dnsdata import A, AAAA, CNAME, MX, NS, SOA, SRV, TXT, RR, Deps, External
from .store import Leaf, Store

MAX_CHAIN: Final = 8


def exists(store: Store, name: str) -> bool:
    """Whether any key lies at or below ``name``."""
    try:
        return store.find(parts_of(name)) is not None
    except msg.RecordError:
        return False


def leaf_types(s: msg.Service) -> set[int]:
    """The question types one leaf answers: its address or CNAME, SRV for
    any host (port 0 included), MX when it is mail, TXT when it has text."""
    out: set[int] = set()
    if s.host:
        ip = msg.address(s.host)
        out.add(CNAME if ip is None else A if ip[0] == 4 else AAAA)
        out.add(SRV)
    if s.mail:
        out.add(MX)
    if s.text:
        out.add(TXT)
    return out


def types_at(store: Store, name: str) -> set[int]:
    """The question types ``name`` has an answer for (for NSEC3 bitmaps)."""
    try:
        leaves = group(store.find(parts_of(name)) or [])
    except msg.RecordError:
        return set()
    out: set[int] = set()
    for leaf in leaves:
        out |= leaf_types(leaf.service)
    if CNAME in out and len(out - {CNAME, SRV}) > 0:
        out.discard(CNAME)  # names with addresses are not followed as CNAMEs
    return out


class Lookup:
    """One question's view of the store; collects outside lookups it needs."""

    def __init__(self, store: Store, cfg: Config, now: float, external: External) -> None:
        self.store, self.cfg, self.now, self.external = store, cfg, now, external
        self.needs: set[tuple[str, int]] = set()
        self.deps: Deps = []
        self.volatile = False
        self._found: dict[str, list[Leaf] | None] = {}

    def _find(self, name: str) -> list[Leaf] | None:
        """The store's leaves at or below ``name`` (None: no such name),
        read once per question however often the answer asks."""
        if name in self._found:
            return self._found[name]
        try:
            found = self.store.find(parts_of(name), self.deps)
        except msg.RecordError:
            found = None
        self._found[name] = found
        return found

    def exists(self, name: str) -> bool:
        return self._find(name) is not None

    def services(self, name: str) -> list[Leaf]:
        return group(self._find(name) or [])

    def ttl(self, leaf: Leaf) -> int:
        """The value's ``ttl``; else the lease's remaining time; else the
        configured ttl; with both a ``ttl`` and a lease, the smaller (spec §5)."""
        if leaf.expires is None:
            return leaf.service.ttl or self.cfg.ttl
        self.volatile = True
        left = max(1, int(leaf.expires - self.now))
        return min(leaf.service.ttl, left) if leaf.service.ttl else left

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
        ips = [msg.address(lf.service.host) for lf in leaves]
        addressed = any(ip is not None for ip in ips)
        for leaf, ip in zip(leaves, ips):
            host = leaf.service.host
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
            elif ip[0] == 4 and (qtype == A or both):
                out.append(RR(owner, A, self.ttl(leaf), ip[1]))
            elif ip[0] == 6 and (qtype == AAAA or both):
                out.append(RR(owner, AAAA, self.ttl(leaf), ip[1]))
        return out

    def glue(self, target: str) -> list[RR]:
        """Addresses of an in-zone target for the additional section."""
        if not msg.in_domain(target, self.cfg.domain):
            return []
        return self.addresses(target, target.lower(), A, [], both=True, forward_ok=False)


def parts_of(name: str) -> list[str]:
    return msg.key_parts(name)




def group(leaves: list[Leaf]) -> list[Leaf]:
    """The shortest keys carrying a ``group`` set the group; leaves of another
    group are dropped; when those shortest keys disagree, grouping is off."""
    if len(leaves) < 2:
        return leaves  # a single leaf is its own group
    grouped = [lf for lf in leaves if lf.service.group]
    if not grouped:
        return leaves
    depth = min(lf.depth for lf in grouped)
    names = {lf.service.group for lf in grouped if lf.depth == depth}
    if len(names) > 1:
        return leaves
    (g,) = names
    return [lf for lf in leaves if lf.service.group in ("", g)]


#: the SOA serial moves once an hour (as the Go skydns had it)
SERIAL_PERIOD: Final = 3600


def serial(now: float) -> int:
    """The SOA serial at ``now``: the hour, in seconds since the epoch."""
    return int(now) // SERIAL_PERIOD * SERIAL_PERIOD & 0xFFFFFFFF


def next_serial_at(now: float) -> int:
    """When the serial next moves: a reply holding an SOA is stale from then."""
    return (int(now) // SERIAL_PERIOD + 1) * SERIAL_PERIOD


def soa(cfg: Config, now: float, owner: str, ttl: int) -> RR:
    return RR(owner, SOA, ttl, (cfg.ns_name, cfg.soa_mbox, serial(now), 28800, 7200, 604800, cfg.min_ttl))


def ns_records(owner: str, ctx: Lookup) -> tuple[list[RR], list[RR]]:
    records, extra = [], []
    for leaf in ctx.services(ctx.cfg.ns_name):
        ip = msg.address(leaf.service.host)
        if ip is None:
            continue  # an NS leaf must hold the server's address
        target = ctx.leaf_name(leaf)
        records.append(RR(owner, NS, ctx.ttl(leaf), target))
        extra.append(RR(target, A if ip[0] == 4 else AAAA, ctx.ttl(leaf), ip[1]))
    return records, extra


def cname_records(owner: str, lookup: str, ctx: Lookup) -> list[RR]:
    _, leaf = ctx.store.exact(parts_of(lookup), ctx.deps)
    if leaf is None or not leaf.service.host or msg.address(leaf.service.host) is not None:
        return []
    return [RR(owner, CNAME, ctx.ttl(leaf), msg.fqdn(leaf.service.host))]


def txt_record(owner: str, leaf: Leaf, ctx: Lookup) -> RR:
    return RR(owner, TXT, ctx.ttl(leaf), tuple(split_txt(leaf.service.text)))


def split_txt(text: str) -> Iterable[str]:
    """TXT character-strings hold at most 255 bytes."""
    data = text.encode()
    for i in range(0, len(data), 255):
        yield data[i:i + 255].decode(errors="replace")


def srv_leaves(leaves: list[Leaf]) -> list[Leaf]:
    """The leaves that make SRV records: those with a host (a text-only leaf
    would give target ".", "no service"), identical ones (host, port,
    priority, weight, text) once, so that weights are shared among what is left."""
    out, seen = [], set()
    for leaf in leaves:
        s = leaf.service
        if not s.host:
            continue
        key = (s.host.lower().rstrip("."), s.port, s.priority, s.weight, s.text)
        if key not in seen:
            seen.add(key)
            out.append(leaf)
    return out


def srv_records(owner: str, lookup: str, ctx: Lookup) -> tuple[list[RR], list[RR]]:
    leaves = srv_leaves(ctx.services(lookup))
    totals: dict[int, int] = {}
    for leaf in leaves:
        p = ctx.priority(leaf)
        totals[p] = totals.get(p, 0) + (leaf.service.weight or 100)
    records: list[RR] = []
    extra: list[RR] = []
    seen: set[str] = set()
    for leaf in leaves:
        s = leaf.service
        p = ctx.priority(leaf)
        weight = int(100.0 / totals[p] * (s.weight or 100))
        ttl = ctx.ttl(leaf)
        ip = msg.address(s.host)
        host = msg.fqdn(s.host) if ip is None else ctx.leaf_name(leaf)
        target = msg.target_strip(host, s.targetstrip)
        records.append(RR(owner, SRV, ttl, (p, weight, s.port, target)))
        extra.extend(_glue(ctx, target, ip, ttl, seen))
    return records, extra


def mx_records(owner: str, lookup: str, ctx: Lookup) -> tuple[list[RR], list[RR]]:
    records: list[RR] = []
    extra: list[RR] = []
    seen: set[str] = set()
    for leaf in ctx.services(lookup):
        s = leaf.service
        if not s.mail:
            continue
        ttl = ctx.ttl(leaf)
        ip = msg.address(s.host)
        host = msg.fqdn(s.host) if ip is None else ctx.leaf_name(leaf)
        records.append(RR(owner, MX, ttl, (ctx.priority(leaf), host)))
        extra.extend(_glue(ctx, host, ip, ttl, seen))
    return records, extra


def _glue(ctx: Lookup, target: str, ip: tuple[int, str] | None, ttl: int, seen: set[str]) -> list[RR]:
    """Additional records for an SRV/MX target: the leaf's own address when
    the target was made from its key, else (once per target) the addresses
    the zone has for that name."""
    if ip is not None:
        return [RR(target, A if ip[0] == 4 else AAAA, ttl, ip[1])]
    if target.lower() in seen:
        return []
    seen.add(target.lower())
    return ctx.glue(target)


def dedup(rrs: list[RR]) -> list[RR]:
    if len(rrs) < 2:
        return rrs
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
