"""Kubernetes objects -> the etcd keys and values kube2sky owns.

A pure function of Services, Endpoints and Pods as the API server returns
them (plain JSON dicts): no client, no etcd, no clock.  The layout is the
one kube2sky 1.9-1.15 wrote (spec section 4), byte for byte including the
hash labels, plus what the original never had: ExternalName as a CNAME
leaf at the service's own key, PTR records for ClusterIPs and headless
endpoints (IPv6 under ``arpa/ip6`` nibbles), dual-stack ClusterIPs, and a
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
from typing import Any, Iterable, Mapping, NamedTuple

from skydns_common import msg

HOSTNAMES_ANNOTATION = "endpoints.beta.kubernetes.io/hostnames-map"
SCHEMA_VERSION = "1.0.0"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class Unit(NamedTuple):
    """What one transaction writes: a Service (``svc``, namespace, name),
    the pods of one IP (``pod``, namespace, dashed IP) or ``meta``."""

    kind: str
    namespace: str = ""
    name: str = ""

    @property
    def object_key(self) -> tuple[str, str]:
        """(namespace, name) of the object a ``svc`` unit comes from."""
        return self.namespace, self.name

    def __str__(self) -> str:
        return "/".join(p for p in self if p)


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

def service_key(base: str, ns: str, name: str) -> str:
    """``D/svc/<ns>/<svc>``: the service's name, under which its leaves lie."""
    return f"{base}/svc/{ns}/{name}"


def legacy_key(base: str, ns: str, name: str) -> str:
    """``D/<ns>/<svc>``: the one leaf of ``--legacy-names`` (kube2sky <= 1.11)."""
    return f"{base}/{ns}/{name}"


def _meta(obj: Obj) -> tuple[str, str]:
    m = obj.get("metadata") or {}
    return m.get("namespace") or "default", m.get("name") or ""


def service_unit(ns: str, name: str) -> Unit:
    return Unit("svc", ns.lower(), name.lower())


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
            out[base] = value(msg.fqdn(target.lower()))  # at the name's own key: a CNAME question reads only that
        return out
    ips = cluster_ips(spec)
    if ips == ["None"]:
        return _headless(base, fqdn, endpoints, publish_not_ready(svc), opt, (ns, name))
    ips = [ip for ip in ips if msg.address(ip) is not None]
    if not ips:
        return out  # not allocated yet
    for i, ip in enumerate(ips):  # dual stack: one A or AAAA leaf per family
        v = value(ip)
        label = msg.hash_label(v)
        out[f"{base}/{label}"] = v
        if i == 0:  # SRV leaves name the service, which has every family: once is enough
            for port in spec.get("ports") or []:
                if port.get("name") and port.get("protocol"):
                    out[f"{base}/_{port['protocol'].lower()}/_{port['name'].lower()}/{label}"] = \
                        value(fqdn, port.get("port", 0))
            if opt.legacy_names:
                out[legacy_key(opt.base, ns, name)] = v
        if opt.ptr:
            out[ptr_key(ip, opt)] = ptr_value(fqdn)
    return out


def cluster_ips(spec: Obj) -> list[str]:
    """``spec.clusterIPs`` (dual stack, in ``ipFamilies`` order), else ``spec.clusterIP``."""
    ips = [ip for ip in spec.get("clusterIPs") or [] if ip]
    return ips or ([spec["clusterIP"]] if spec.get("clusterIP") else [])


TOLERATE_UNREADY_ANNOTATION = "service.alpha.kubernetes.io/tolerate-unready-endpoints"


def publish_not_ready(svc: Obj) -> bool:
    """Whether the service asks for not-ready addresses too (the DNS
    specification's ``publishNotReadyAddresses``, or the older annotation)."""
    if (svc.get("spec") or {}).get("publishNotReadyAddresses") is True:
        return True
    annotations = (svc.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(TOLERATE_UNREADY_ANNOTATION, "")).lower() == "true"


def ptr_value(host: str) -> str:
    """A PTR leaf: the name, with the forward records' ttl so that a re-used
    IP is not answered with the old name for the configured hour."""
    return msg.dumps(msg.Service(host=host, ttl=30))


def _headless(base: str, fqdn: str, endpoints: Obj | None, not_ready: bool, opt: Options,
              ns_name: tuple[str, str]) -> Records:
    out: Records = {}
    if not endpoints:
        return out
    names = _hostnames_map(endpoints)
    found = []  # (ip, its value, its DNS label or "", the subset's named ports)
    for subset in endpoints.get("subsets") or []:
        ports = [p for p in subset.get("ports") or [] if p.get("name") and p.get("protocol")]
        addrs = (subset.get("addresses") or []) + ((subset.get("notReadyAddresses") or []) if not_ready else [])
        for addr in addrs:
            ip = addr.get("ip") or ""
            if msg.address(ip) is not None:
                found.append((ip, value(ip), _label(addr.get("hostname")) or _label(names.get(ip)), ports))
    ips_of: dict[str, set[str]] = {}
    for ip, _, named, _ in found:
        if named:
            ips_of.setdefault(named, set()).add(ip)
    for ip, v, named, ports in found:
        label = named or msg.hash_label(v)
        # a hostname two addresses share: both kept, one leaf each below the name
        leaf = f"{label}/{msg.hash_label(v)}" if named and len(ips_of[named]) > 1 else label
        out[f"{base}/{leaf}"] = v
        for p in ports:
            out[f"{base}/_{p['protocol'].lower()}/_{p['name'].lower()}/{leaf}"] = \
                value(f"{label}.{fqdn}", p.get("port", 0))
        if opt.ptr:  # one leaf per service below the reversed IP: a pod several services select has each
            out[f"{ptr_key(ip, opt)}/{msg.hash_label(fqdn)}"] = ptr_value(f"{label}.{fqdn}")
        if opt.legacy_names:  # kube2sky 1.7-1.11: D/<ns>/<svc>/<hash>, no SRV
            out[f"{legacy_key(opt.base, *ns_name)}/{msg.hash_label(v)}"] = v
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
    return Unit("pod", ns.lower(), _dashed(ip))


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


META_UNIT = Unit("meta")


def meta_records(opt: Options) -> Records:
    return {f"{opt.base}/dns-version": msg.dumps(msg.Service(text=SCHEMA_VERSION))}


def desired(services: Iterable[Obj], endpoints: Mapping[tuple[str, str], Obj],
            pods: Iterable[Obj], opt: Options) -> dict[Unit, Records]:
    """The whole tree kube2sky should own, by unit; ``endpoints`` is keyed by
    lower-cased (namespace, name), as units are."""
    out: dict[Unit, Records] = {META_UNIT: meta_records(opt)}
    for svc in services:
        unit = service_unit(*_meta(svc))
        out[unit] = service_records(svc, endpoints.get(unit.object_key), opt)
    out.update(pod_records(pods, opt))
    return {u: r for u, r in out.items() if r}
