"""Hosts files as skydns records, and who owns which of those records.

skydnsctl (``hosts import|sync FILE``) and kube2sky (the ``hosts`` key of the
kube-dns ConfigMap) read the same ``IP name [alias ...]`` text and must put
a name at the same key, so both call here: one parser, one rule for where a
name is served (a name outside the domain is served as ``<name>.<domain>``,
so a pod's search list finds the bare name), one rule for which keys a set
may claim and remove.  Pure functions; the key layout is msg's.

Ownership: each writer of a set keeps a manifest (a JSON object whose
``keys`` lists the keys it wrote) under one of :func:`manifest_roots`.  A
set claims a key it wants only when the key was absent, already its own, or
another set's (two sets naming the same host share the leaf); a key that
was there before, written by someone else (``skydnsctl add``), is never
claimed, so never removed.  A set removes only keys it claimed that no
other manifest lists.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from . import msg

#: labels directly below the domain that kube2sky (svc, pod, dns-version) and
#: skydns (dns: stub zones, ns.dns, local.dns) own; a host name there would be
#: removed by kube2sky or shadow a server name, so it is refused
RESERVED = ("svc", "pod", "dns", "dns-version")

_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


def check_name(name: str) -> str:
    """A DNS name users may write records for (letters, digits, '-', '_'),
    lower-cased and fully qualified; ValueError with one line otherwise."""
    try:
        labels = msg.labels(name)
    except msg.RecordError as exc:
        raise ValueError(str(exc)) from None
    if not labels:
        raise ValueError("a name is needed")
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError(f"{name!r}: {label!r} is not a valid DNS label")
    if len(name.rstrip(".")) > 253:
        raise ValueError(f"{name!r} is longer than 253 characters")
    return msg.fqdn(name.lower())


def check_served(name: str, domain: str) -> None:
    """ValueError unless skydns answers ``name`` from the tree: under the
    domain, or a reverse (``arpa.``) name; anything else it forwards."""
    if not (msg.in_domain(name, domain) or msg.in_domain(name, "arpa.")):
        raise ValueError(f"{msg.fqdn(name)} is outside the domain {msg.fqdn(domain)} skydns serves, so nothing "
                         f"would answer it: write {name.rstrip('.')}.{msg.fqdn(domain)}")


def check_zone(zone: str, domain: str) -> str:
    """The zone hosts-file names go under (default: the domain); ValueError
    when it is outside the domain, where nothing would resolve."""
    domain = msg.fqdn(domain.lower())
    zone = msg.fqdn(zone.lower()) if zone else domain
    if not msg.in_domain(zone, domain):
        raise ValueError(f"zone {zone} is outside the domain {domain} skydns serves: nothing there would resolve")
    return zone


def served_name(name: str, domain: str, zone: str = "") -> str:
    """Where a hosts-file name is served: as it is when it is under the
    domain, else ``<name>.<zone>`` (the zone defaults to the domain and must
    be inside it).  ``registry`` -> ``registry.cluster.local.``,
    ``nexus.tools`` -> ``nexus.tools.cluster.local.``.  ValueError for a
    name skydns would not answer from these records."""
    domain = msg.fqdn(domain.lower())
    zone = check_zone(zone, domain)
    fq = check_name(name)
    if not msg.in_domain(fq, domain):
        fq = check_name(fq.rstrip(".") + "." + zone)
    labels = msg.labels(fq)
    below = labels[:len(labels) - len(msg.labels(domain))]
    if not below:
        raise ValueError(f"{name!r} is the domain itself")
    if below[-1] in RESERVED:
        raise ValueError(f"{fq} is under {below[-1]}.{domain}, which kube2sky and skydns own")
    return fq


def parse(text: str, domain: str, zone: str = "") -> dict[str, list[str]]:
    """``IP name [alias ...]`` lines -> served name -> IPs (in file order).
    Comments and blank lines are skipped; a bad line raises ValueError
    naming its line number."""
    out: dict[str, list[str]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        ip = msg.address(parts[0]) if len(parts) >= 2 else None
        if ip is None:
            raise ValueError(f"line {n}: expected 'IP name [alias ...]', got {line!r}")
        for name in parts[1:]:
            try:
                fq = served_name(name, domain, zone)
            except ValueError as exc:
                raise ValueError(f"line {n}: {exc}") from None
            ips = out.setdefault(fq, [])
            if ip[1] not in ips:
                ips.append(ip[1])
    return out


def records(hosts: Mapping[str, list[str]], prefix: str, ttl: int = 0) -> dict[str, str]:
    """One leaf per name and address, labelled by the value's hash (A for an
    IPv4 address, AAAA for IPv6: skydns answers by the host's family)."""
    out = {}
    for name, ips in hosts.items():
        for ip in ips:
            v = msg.dumps(msg.Service(host=ip, ttl=ttl))
            out[f"{msg.key_of(name, prefix)}/{msg.hash_label(v)}"] = v
    return out


# -- ownership ---------------------------------------------------------------

def manifest_roots(prefix: str) -> tuple[str, ...]:
    """Where the manifests of every set writing under ``/<prefix>`` live:
    skydnsctl's hosts sets, and kube2sky's ConfigMap."""
    p = prefix.strip("/")
    return (f"/skydnsctl/hosts/{p}/", f"/kube2sky/configmap/{p}/")


def manifest_keys(raw: bytes | str | None) -> set[str]:
    """The keys a manifest lists (an unreadable manifest lists none)."""
    if not raw:
        return set()
    try:
        obj = json.loads(raw)
        keys = obj.get("keys") if isinstance(obj, dict) else None
    except ValueError:
        return set()
    return {k for k in keys if isinstance(k, str)} if isinstance(keys, list) else set()


@dataclass
class SetPlan:
    puts: dict[str, str]
    deletes: list[str]
    claimed: list[str]  # the keys the manifest lists afterwards


def plan_set(want: Mapping[str, str], had: Iterable[str], existing: Mapping[str, bytes | str | None],
             others: Iterable[str], remove: Iterable[str] | None = None) -> SetPlan:
    """What a set writes: ``want`` (key -> value), ``had`` (its manifest),
    ``existing`` (the current values of the wanted and had keys; None or
    missing for absent), ``others`` (keys other manifests list).  ``remove``
    limits which of its keys that left ``want`` it removes (None: all, as
    sync; import passes those of the names it updates)."""
    had, others = set(had), set(others)

    def cur(k):
        v = existing.get(k)
        return v.decode(errors="replace") if isinstance(v, bytes) else v

    puts = {k: v for k, v in want.items() if cur(k) != v}
    claimed = {k for k in want if k in had or k in others or cur(k) is None}
    gone = had - set(want)
    if remove is not None:
        gone &= set(remove)
    deletes = sorted(k for k in gone if k not in others and cur(k) is not None)
    claimed |= had - gone
    return SetPlan(puts, deletes, sorted(claimed))
