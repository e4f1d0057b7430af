"""skydns settings: built-in defaults < environment < flags < ``/<prefix>/config``.

Users start skydns with the Go original's flags and environment variables
(spec section 6) and may keep settings as JSON in etcd (section 5); this
module turns all three into one immutable :class:`Config`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from . import __version__
from skydns_common import goflags, msg


@dataclass(frozen=True)
class Config:
    dns_addr: str = "127.0.0.1:53"
    domain: str = "skydns.local."
    local: str = ""
    hostmaster: str = ""
    dnssec: str = ""
    round_robin: bool = True
    ns_rotate: bool = True
    nameservers: tuple[str, ...] = ()
    no_rec: bool = False
    read_timeout: float = 2.0
    priority: int = 10
    ttl: int = 3600
    min_ttl: int = 60
    rcache: int = 10000
    rcache_ttl: int = 60
    serve_stale: bool = True
    serve_stale_for: float = 86400.0
    scache: int = 10000
    ndots: int = 2
    path_prefix: str = "skydns"
    machines: tuple[str, ...] = ("http://127.0.0.1:2379",)
    stubzones: bool = False
    verbose: bool = False
    tls_key: str = ""
    tls_pem: str = ""
    ca_cert: str = ""
    health_addr: str = "127.0.0.1:8080"
    tcp_idle_timeout: float = 10.0
    workers: int = 0
    worker: bool = False
    hostname: str = field(default_factory=platform.node)  # gethostname(), without importing socket

    #: names made from the fields above, once per Config (read for every
    #: answer; a property would make them again each time)
    soa_mbox: str = field(init=False, repr=False, compare=False)
    ns_name: str = field(init=False, repr=False, compare=False)
    local_alias: str = field(init=False, repr=False, compare=False)
    #: "." + domain: the suffix of every name below it
    dot_domain: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        derived = {"soa_mbox": _mbox(self.hostmaster or "hostmaster." + self.domain),
                   "ns_name": "ns.dns." + self.domain, "local_alias": "local.dns." + self.domain,
                   "dot_domain": "." + self.domain}
        for name, value in derived.items():
            object.__setattr__(self, name, value)  # frozen: set once, here


def _mbox(hostmaster: str) -> str:
    # the original accepted hostmaster@domain as well as hostmaster.domain
    return msg.fqdn(hostmaster.replace("@", ".", 1)).lower()


#: keys of the JSON at /<prefix>/config and the Config field each sets
ETCD_KEYS = {
    "dns_addr": "dns_addr", "domain": "domain", "local": "local", "hostmaster": "hostmaster",
    "dnssec": "dnssec", "round_robin": "round_robin", "ns_rotate": "ns_rotate",
    "nameservers": "nameservers", "no_rec": "no_rec", "read_timeout": "read_timeout",
    "priority": "priority", "ttl": "ttl", "min_ttl": "min_ttl", "rcache": "rcache",
    "rcache_ttl": "rcache_ttl", "ndot": "ndots", "ndots": "ndots", "scache": "scache",
}


def normalise(cfg: Config) -> Config:
    return replace(cfg, domain=msg.fqdn(cfg.domain.lower()),
                   local=msg.fqdn(cfg.local.lower()) if cfg.local else "",
                   path_prefix=cfg.path_prefix.strip("/") or "skydns")


def merge_etcd(cfg: Config, raw: bytes | str) -> Config:
    """Overlay the JSON stored at /<prefix>/config; unknown keys are ignored,
    a wrong type raises ValueError naming the key."""
    obj = json.loads(raw)
    if not isinstance(obj, dict):
        raise ValueError("config is not a JSON object")
    changes: dict[str, Any] = {}
    for key, value in obj.items():
        name = ETCD_KEYS.get(key)
        if name is None:
            continue
        current = getattr(cfg, name)
        if name == "read_timeout":
            value = goflags.duration(str(value)) if isinstance(value, str) else float(value) / 1e9
        elif name == "nameservers":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("config key 'nameservers' must be a list of strings")
            value = tuple(value)
        elif isinstance(current, bool):
            if not isinstance(value, bool):
                raise ValueError(f"config key {key!r} must be true or false")
        elif isinstance(current, int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"config key {key!r} must be a non-negative integer")
        elif not isinstance(value, str):
            raise ValueError(f"config key {key!r} must be a string")
        changes[name] = value
    return normalise(replace(cfg, **changes))


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    d = Config()
    e = env.get
    p = argparse.ArgumentParser(prog="skydns", description="DNS server for the /skydns tree in etcd v3")
    p.add_argument("--addr", dest="dns_addr", default=e("SKYDNS_ADDR", d.dns_addr),
                   help="ip:port to serve DNS on (env SKYDNS_ADDR)")
    p.add_argument("--domain", default=e("SKYDNS_DOMAIN", d.domain), help="domain to serve (env SKYDNS_DOMAIN)")
    p.add_argument("--machines", default=e("ETCD_MACHINES", ",".join(d.machines)),
                   help="comma-separated etcd endpoints (env ETCD_MACHINES)")
    p.add_argument("--nameservers", default=e("SKYDNS_NAMESERVERS", ""),
                   help="comma-separated ip:port forwarders (default: /etc/resolv.conf)")
    p.add_argument("--path-prefix", default=e("SKYDNS_PATH_PREFIX", d.path_prefix), help="etcd key prefix")
    p.add_argument("--local", default="", help="name that local.dns.<domain> answers as")
    p.add_argument("--hostmaster", default="", help="SOA mailbox (default hostmaster.<domain>)")
    p.add_argument("--rtimeout", dest="read_timeout", type=goflags.duration, default=d.read_timeout,
                   help="timeout of one forwarded try (Go duration)")
    p.add_argument("--ndots", type=int, default=int(e("SKYDNS_NDOTS", d.ndots)),
                   help="forward only names with at least this many labels")
    p.add_argument("--rcache", type=int, default=d.rcache, help="forwarded-answer cache size (entries, 0: off)")
    p.add_argument("--rcache-ttl", type=int, default=d.rcache_ttl, help="forwarded-answer cache TTL (s)")
    p.add_argument("--scache", type=int, default=d.scache, help="signature cache size")
    p.add_argument("--dnssec", default="", help="basename of a DNSSEC key pair")
    p.add_argument("--tls-key", default="", help="client key for etcd")
    p.add_argument("--tls-pem", default="", help="client certificate for etcd")
    p.add_argument("--ca-cert", default="", help="CA certificate for etcd")
    p.add_argument("--health-addr", default=d.health_addr, help="ip:port for /healthz, /readiness, /metrics")
    p.add_argument("--tcp-idle-timeout", type=goflags.duration, default=d.tcp_idle_timeout,
                   help="close TCP connections idle this long")
    goflags.add_bool(p, "--no-rec", d.no_rec, "do not forward (SERVFAIL for names outside the domain)")
    goflags.add_bool(p, "--round-robin", d.round_robin, "rotate A and AAAA answers")
    goflags.add_bool(p, "--ns-rotate", d.ns_rotate, "rotate the forwarders")
    goflags.add_bool(p, "--stubzones", d.stubzones, "serve stub zones")
    goflags.add_bool(p, "--serve-stale", d.serve_stale, "answer from expired cache entries when every forwarder fails")
    p.add_argument("--serve-stale-for", type=goflags.duration, default=d.serve_stale_for,
                   help="how long past expiry a cached answer may still be served")
    goflags.add_bool(p, "--verbose", d.verbose, "debug logging (queries are not logged)")
    goflags.add_bool(p, "--etcd3", True, "accepted for compatibility: etcd v3 is the only store")
    p.add_argument("--workers", type=int, default=d.workers,
                   help="processes sharing the DNS port (0: one per core this process may use)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--version", action="version", version=f"skydns {__version__}")
    return p


def resolv_conf_nameservers(path: str = "/etc/resolv.conf") -> tuple[str, ...]:
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    host = parts[1]
                    out.append(f"[{host}]:53" if ":" in host else f"{host}:53")
    except OSError:
        pass
    return tuple(out)


def from_args(argv: Sequence[str], env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    a = parser(env).parse_args(goflags.normalise(argv))
    machines = tuple(m.strip() for m in a.machines.split(",") if m.strip())
    nameservers = tuple(n.strip() for n in a.nameservers.split(",") if n.strip())
    if not nameservers:
        nameservers = resolv_conf_nameservers()
    cfg = Config(
        dns_addr=a.dns_addr, domain=a.domain, local=a.local, hostmaster=a.hostmaster, dnssec=a.dnssec,
        round_robin=a.round_robin, ns_rotate=a.ns_rotate, nameservers=nameservers, no_rec=a.no_rec,
        read_timeout=a.read_timeout, ndots=a.ndots, rcache=a.rcache, rcache_ttl=a.rcache_ttl,
        scache=a.scache, path_prefix=a.path_prefix, machines=machines, stubzones=a.stubzones,
        serve_stale=a.serve_stale, serve_stale_for=a.serve_stale_for,
        verbose=a.verbose, tls_key=a.tls_key, tls_pem=a.tls_pem, ca_cert=a.ca_cert,
        health_addr=a.health_addr, tcp_idle_timeout=a.tcp_idle_timeout, workers=a.workers, worker=a.worker,
    )
    return normalise(cfg)

