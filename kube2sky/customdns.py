"""The kube-dns ConfigMap -> skydns keys and config: pure.

kube-dns 1.6+ read three keys of its ConfigMap; users keep theirs, so the
same keys mean the same here:

* ``stubDomains`` -- JSON ``{"corp.example": ["10.1.2.3", "10.1.2.4:5353"]}``
  -> skydns stub-zone leaves ``/<prefix>/<domain>/dns/stub/<zone>/<hash>`` ->
  ``{"host":IP,"port":PORT}`` (skydns with ``-stubzones``);
* ``upstreamNameservers`` -- JSON ``["8.8.8.8", "10.0.0.2:5353"]`` -> the
  ``nameservers`` of ``/<prefix>/config``, merged into whatever else that JSON
  holds, and put back as it was when the key goes;
* ``hosts`` -- hosts-file text -> A/AAAA leaves (skydns_common.hosts: a name
  outside the domain is served as ``<name>.<domain>``).

Each key is parsed on its own: a bad one is reported and its previous state
kept, the others still apply.  What the ConfigMap produced is listed in a
manifest (:func:`plan`), so a removed key removes exactly that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from skydns_common import hosts, msg
from skydns_common.addr import split_hostport

SECTIONS = ("stubDomains", "upstreamNameservers", "hosts")
#: the sections that are keys under the prefix (upstreamNameservers is config)
KEYED = ("stubDomains", "hosts")


@dataclass
class Desired:
    records: dict[str, dict[str, str]] = field(default_factory=dict)  # section -> key -> value
    nameservers: tuple[str, ...] | None = None  # None: leave skydns's own
    errors: dict[str, str] = field(default_factory=dict)  # section -> one line


def server(spec: object) -> tuple[int, str, int]:
    """``10.1.2.3``, ``10.1.2.4:5353``, ``[fd00::1]:53``, ``fd00::1`` ->
    (family, address, port); kube-dns took IPs only, port 53 by default."""
    if not isinstance(spec, str):
        raise ValueError(f"a nameserver must be a string, not {type(spec).__name__}")
    try:
        host, port = split_hostport(spec.strip())
    except ValueError:
        raise ValueError(f"{spec!r} is not IP or IP:port") from None
    ip = msg.address(host)
    if ip is None or not 0 < port < 65536:
        raise ValueError(f"{spec!r} is not IP or IP:port")
    return ip[0], ip[1], port


def hostport(family: int, ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if family == 6 else f"{ip}:{port}"


def stub_records(text: str, domain: str, prefix: str) -> dict[str, str]:
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError("stubDomains must be a JSON object of domain -> list of nameservers")
    out = {}
    for zone, servers in obj.items():
        name = hosts.check_name(zone)
        if msg.in_domain(name, domain) or msg.in_domain(domain, name):
            raise ValueError(f"stub domain {zone!r} overlaps the cluster domain {domain}")
        if not isinstance(servers, list) or not servers:
            raise ValueError(f"stub domain {zone!r} needs a list of nameservers")
        for spec in servers:
            family, ip, port = server(spec)
            value = msg.dumps(msg.Service(host=ip, port=port))
            out[msg.key_of(f"{msg.hash_label(value)}.{name}stub.dns.{domain}", prefix)] = value
    return out


def upstreams(text: str) -> tuple[str, ...] | None:
    obj = json.loads(text)
    if not isinstance(obj, list):
        raise ValueError("upstreamNameservers must be a JSON list of nameservers")
    if len(obj) > 3:
        raise ValueError("upstreamNameservers takes at most 3 nameservers (as kube-dns)")
    return tuple(hostport(*server(s)) for s in obj) or None


def desired(data: Mapping[str, str] | None, domain: str, prefix: str) -> Desired:
    """What the ConfigMap's data asks for (None or a missing key: nothing)."""
    data = data or {}
    domain = msg.fqdn(domain.lower())
    d = Desired()
    parsers = {
        "stubDomains": lambda t: stub_records(t, domain, prefix),
        "hosts": lambda t: hosts.records(hosts.parse(t, domain), prefix),
    }
    for section, fn in parsers.items():
        try:
            d.records[section] = fn(data[section]) if section in data else {}
        except (ValueError, msg.RecordError) as exc:
            d.errors[section] = _line(exc)
    if "upstreamNameservers" in data:
        try:
            d.nameservers = upstreams(data["upstreamNameservers"])
        except ValueError as exc:
            d.errors["upstreamNameservers"] = _line(exc)
    return d


def _line(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    return str(exc).splitlines()[0]


# -- /<prefix>/config ---------------------------------------------------------

DELETE = "\0delete"  # merge_config's answer when the config key itself should go


def merge_config(raw: bytes | str | None, want: tuple[str, ...] | None, mine: Mapping) -> tuple[str | None, dict]:
    """(new /<prefix>/config text, DELETE, or None for no change; what the
    manifest remembers).  Only ``nameservers`` is ever changed: set to
    ``want``, and when ``want`` goes, put back to what it was before (absent
    or the operator's list) -- unless someone changed it since, then theirs
    stays.  ``mine``: ``{"nameservers": ours, "previous": theirs,
    "created": whether the config key was ours}`` or empty."""
    try:
        obj = json.loads(raw) if raw else {}
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        raise ValueError("the JSON at /<prefix>/config is not an object; nameservers left alone")
    ours = mine.get("nameservers")
    if want is not None:
        new = dict(mine) if ours is not None else {"previous": obj.get("nameservers"), "created": raw is None}
        new["nameservers"] = list(want)
        if obj.get("nameservers") == list(want):
            return None, new
        obj["nameservers"] = list(want)
        return json.dumps(obj, separators=(",", ":")), new
    if ours is None:
        return None, {}
    if obj.get("nameservers") != ours:
        return None, {}  # changed by someone else since: theirs now
    previous = mine.get("previous")
    if previous is None:
        obj.pop("nameservers", None)
    else:
        obj["nameservers"] = previous
    if not obj and mine.get("created"):
        return DELETE, {}
    return json.dumps(obj, separators=(",", ":")), {}


# -- the whole change ---------------------------------------------------------

@dataclass
class Plan:
    puts: dict[str, str]
    deletes: list[str]
    manifest: str
    config: str | None  # new /<prefix>/config, DELETE, or None: unchanged
    errors: dict[str, str]


def read_manifest(raw: bytes | str | None) -> dict:
    try:
        obj = json.loads(raw) if raw else {}
    except ValueError:
        obj = {}
    return obj if isinstance(obj, dict) else {}


def sections_of(manifest: dict) -> dict[str, Any]:
    """A read manifest's ``sections`` (section -> its keys); {} when not a map."""
    sections = manifest.get("sections")
    return sections if isinstance(sections, dict) else {}


def plan(d: Desired, manifest_raw: bytes | str | None, existing: Mapping[str, bytes | str | None],
         others: set[str], config_raw: bytes | str | None, source: str) -> Plan:
    """``existing``: current values of every key wanted or listed in the
    manifest; ``others``: keys other manifests list.  A section in error
    keeps what the manifest says it produced, untouched."""
    old = read_manifest(manifest_raw)
    old_sections = sections_of(old)
    errors = dict(d.errors)
    puts: dict[str, str] = {}
    deletes: list[str] = []
    sections: dict[str, list[str]] = {}
    for section in KEYED:
        had = [k for k in old_sections.get(section) or [] if isinstance(k, str)]
        if section in errors:
            sections[section] = had
            continue
        p = hosts.plan_set(d.records.get(section, {}), had, existing, others)
        puts.update(p.puts)
        deletes += p.deletes
        sections[section] = p.claimed
    mine: dict[str, Any] = old["config"] if isinstance(old.get("config"), dict) else {}
    config = None
    if "upstreamNameservers" not in errors:
        try:
            config, mine = merge_config(config_raw, d.nameservers, mine)
        except ValueError as exc:
            errors["upstreamNameservers"] = str(exc)
    manifest = {"source": source, "keys": sorted({k for ks in sections.values() for k in ks}),
                "sections": {s: k for s, k in sections.items() if k}}
    if mine:
        manifest["config"] = mine
    return Plan(puts, sorted(deletes), json.dumps(manifest, sort_keys=True), config, errors)


def wanted_keys(d: Desired, manifest_raw: bytes | str | None) -> set[str]:
    """The keys :func:`plan` needs the current values of."""
    keys = {k for section in d.records.values() for k in section}
    return keys | hosts.manifest_keys(manifest_raw)
