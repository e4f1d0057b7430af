"""Kubernetes objects -> the etcd keys and values kube2sky owns.

A pure function of Services, Endpoints and Pods as the API server returns
them (plain JSON dicts): no client, no etcd, no clock.  The layout is the
one kube2sky 1.9-1.15 wrote (spec section 4), byte for byte including the
hash labels, plus what the original never had: ExternalName as a CNAME
value, PTR records for ClusterIPs and named headless endpoints, and a
``dns-version`` TXT record.

Records are grouped by *unit* -- one Service (with its Endpoints, legacy
name and PTRs) or one pod IP -- because a unit's changes are written to
etcd as one transaction.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from skydns_common import msg

HOSTNAMES_ANNOTATION = "endpoints.beta.kubernetes.io/hostnames-map"
SCHEMA_VERSION = "1.0.0"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

Unit = tuple[str, ...]
Records = dict[str, str]
#: a Kubernetes object as the API server returns it (plain JSON)
Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Options:
    domain: str = "cluster.local."
    prefix: str = "skydns"
    legacy_names: bool = False
    ptr: bool = True

    @property
    def base(self) -> str:
        """``/skydns/local/cluster``"""
        return msg.key_of(self.domain, self.prefix)

    @property
    def arpa(self) -> str:
        return f"/{self.prefix.strip('/')}/arpa/"


#: the value kube2sky writes for a host (and port), exactly; msg owns the format
value = msg.kube2sky_value

#: first labels below the domain that are not namespaces of the legacy layout
_NOT_NAMESPACES = ("svc", "pod", "dns")


def service_key(base: str, ns: str, name: str) -> str:
    """``D/svc/<ns>/<svc>``: the service's name, under which its leaves lie."""
    return f"{base}/svc/{ns}/{name}"


def legacy_key(base: str, ns: str, name: str) -> str:
    """``D/<ns>/<svc>``: the one leaf of ``--legacy-names`` (kube2sky <= 1.11)."""
    return f"{base}/{ns}/{name}"


def layout(key: str, base: str) -> tuple[str, list[str]] | None:
    """Where a key lies in kube2sky's layout below ``base`` (``D``):
    ``("svc", [ns, svc, leaf...])``, ``("pod", [ns, dashed ip, leaf...])``,
    ``("meta", [])`` for ``D/dns-version``, ``("legacy", [ns, svc])`` for a
    two-label key outside svc/pod/dns (kube2sky's only when its value says
    so: :func:`skydns_common.msg.is_kube2sky_address`); None elsewhere."""
    if not key.startswith(base + "/"):
        return None
    parts = key[len(base) + 1:].split("/")
    if parts[0] in ("svc", "pod") and len(parts) >= 4:
        return parts[0], parts[1:]
    if parts == ["dns-version"]:
        return "meta", []
    if len(parts) == 2 and parts[0] not in _NOT_NAMESPACES:
        return "legacy", parts
    return None


def _meta(obj: Obj) -> tuple[str, str]:
    m = obj.get("metadata") or {}
    return m.get("namespace") or "default", m.get("name") or ""


def service_unit(ns: str, name: str) -> Unit:
    return ("svc", ns.lower(), name.lower())


def service_records(svc: Obj, endpoints: Obj | None, opt: Options) -> Records:
    """Every key of one Service (with its Endpoints when headless)."""
    ns, name = _meta(svc)
    ns, name = ns.lower(), name.lower()
    spec = svc.get("spec") or {}
    base = service_key(opt.base, ns, name)
    fqdn = f"{name}.{ns}.svc.{opt.domain}"
    out: Records = {}
    if spec.get("type") == "ExternalName":
        target = spec.get("externalName") or ""
        if target:
            v = value(msg.fqdn(target.lower()))
            out[f"{base}/{msg.hash_label(v)}"] = v
        return out
    cluster_ip = spec.get("clusterIP") or ""
    if cluster_ip == "None":
        return _headless(base, fqdn, endpoints, opt)
    if msg.address(cluster_ip) is None:
        return out  # not allocated yet
    v = value(cluster_ip)
    label = msg.hash_label(v)
    out[f"{base}/{label}"] = v
    for port in spec.get("ports") or []:
        if port.get("name") and port.get("protocol"):
            out[f"{base}/_{port['protocol'].lower()}/_{port['name'].lower()}/{label}"] = value(fqdn, port.get("port", 0))
    if opt.legacy_names:
        out[legacy_key(opt.base, ns, name)] = v
    if opt.ptr:
        out[ptr_key(cluster_ip, opt)] = msg.dumps(msg.Service(host=fqdn))
    return out


def _headless(base: str, fqdn: str, endpoints: Obj | None, opt: Options) -> Records:
    out: Records = {}
    if not endpoints:
        return out
    names = _hostnames_map(endpoints)
    for subset in endpoints.get("subsets") or []:
        ports = [p for p in subset.get("ports") or [] if p.get("name") and p.get("protocol")]
        for addr in subset.get("addresses") or []:  # ready addresses only
            ip = addr.get("ip") or ""
            if msg.address(ip) is None:
                continue
            v = value(ip)
            named = _label(addr.get("hostname")) or _label(names.get(ip))
            label = named or msg.hash_label(v)
            out[f"{base}/{label}"] = v
            for p in ports:
                out[f"{base}/_{p['protocol'].lower()}/_{p['name'].lower()}/{label}"] = \
                    value(f"{label}.{fqdn}", p.get("port", 0))
            if named and opt.ptr:
                out[ptr_key(ip, opt)] = msg.dumps(msg.Service(host=f"{named}.{fqdn}"))
    return out


def _hostnames_map(endpoints: Obj) -> dict[str, str]:
    raw = ((endpoints.get("metadata") or {}).get("annotations") or {}).get(HOSTNAMES_ANNOTATION)
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
        return {ip: (rec or {}).get("HostName", "") for ip, rec in parsed.items() if isinstance(rec, dict)}
    except (ValueError, AttributeError):
        return {}


def _label(name: object) -> str:
    if isinstance(name, str) and _DNS_LABEL.match(name.lower()):
        return name.lower()
    return ""


def ptr_key(ip: str, opt: Options) -> str:
    rev = ipaddress.ip_address(ip).reverse_pointer + "."
    return msg.key_of(rev, opt.prefix)


def pod_unit(ns: str, ip: str) -> Unit:
    return ("pod", ns.lower(), _dashed(ip))


def _dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


def pod_records(pods: Iterable[Obj], opt: Options) -> dict[Unit, Records]:
    out: dict[Unit, Records] = {}
    for pod in pods:
        ns, _ = _meta(pod)
        ip = (pod.get("status") or {}).get("podIP") or ""
        if msg.address(ip) is None:
            continue
        v = value(ip)
        unit = pod_unit(ns, ip)
        out.setdefault(unit, {})[f"{opt.base}/pod/{ns.lower()}/{_dashed(ip)}/{msg.hash_label(v)}"] = v
    return out


META_UNIT: Unit = ("meta",)


def meta_records(opt: Options) -> Records:
    return {f"{opt.base}/dns-version": msg.dumps(msg.Service(text=SCHEMA_VERSION))}


def desired(services: Iterable[Obj], endpoints: Mapping[tuple[str, ...], Obj],
            pods: Iterable[Obj], opt: Options) -> dict[Unit, Records]:
    """The whole tree kube2sky should own, by unit; ``endpoints`` is keyed by
    lower-cased (namespace, name), as units are."""
    out: dict[Unit, Records] = {META_UNIT: meta_records(opt)}
    for svc in services:
        unit = service_unit(*_meta(svc))
        out[unit] = service_records(svc, endpoints.get(unit[1:]), opt)
    out.update(pod_records(pods, opt))
    return {u: r for u, r in out.items() if r}


def unit_of(key: str, value: bytes | str, opt: Options) -> Unit | None:
    """Which unit an existing key belongs to, or None when kube2sky does not
    own it (custom records under the prefix are never touched)."""
    if key.startswith(opt.arpa):
        try:
            host = msg.parse(value).host
        except msg.RecordError:
            return None
        tail = ".svc." + opt.domain
        if not host.endswith(tail):
            return None
        labels = host[: -len(tail)].split(".")
        return service_unit(labels[-1], labels[-2]) if len(labels) >= 2 else None
    place = layout(key, opt.base)
    if place is None:
        return None
    kind, parts = place
    if kind == "svc":
        return service_unit(parts[0], parts[1])
    if kind == "pod":
        return ("pod", parts[0], parts[1])
    if kind == "meta":
        return META_UNIT
    raw = value.decode() if isinstance(value, bytes) else value
    if msg.is_kube2sky_address(raw):
        return service_unit(parts[0], parts[1])
    return None
