"""Prometheus metrics under the names users of the Go skydns already scrape.

``PROMETHEUS_NAMESPACE`` and ``PROMETHEUS_SUBSYSTEM`` default to ``skydns``
as in the original, giving ``skydns_skydns_dns_request_count_total`` and so
on (spec section 7).  Each error is counted once, where the reply is made.
"""

from __future__ import annotations

from typing import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SYSTEMS = ("auth", "cache", "recursive", "reverse", "stub")
CAUSES = ("nxdomain", "nodata", "truncated", "refused", "overflow", "servfail")


class Metrics:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = env or {}
        ns = env.get("PROMETHEUS_NAMESPACE", "skydns")
        sub = env.get("PROMETHEUS_SUBSYSTEM", "skydns")
        self.registry = CollectorRegistry()
        kw = dict(namespace=ns, subsystem=sub, registry=self.registry)
        self.requests = Counter("dns_request_count", "DNS questions answered.", ["system"], **kw)
        self.duration = Histogram("dns_request_duration_seconds", "Time to answer a question.", ["system"],
                                  buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1,
                                           0.5, 1, 2, 5), **kw)
        self.size = Histogram("dns_response_size_bytes", "Size of the replies sent.", ["system"],
                              buckets=(0, 100, 200, 300, 400, 512, 1024, 1232, 2048, 4096, 16384, 65535), **kw)
        self.errors = Counter("dns_error_count", "Replies that were errors, by cause.", ["system", "cause"], **kw)
        self.cachemiss = Counter("dns_cachemiss_count", "Cache misses.", ["cache"], **kw)
        self.cachehit = Counter("dns_cachehit_count", "Cache hits.", ["cache"], **kw)
        self.bad_values = Counter("store_invalid_value_count", "etcd values skipped as invalid.", **kw)
        self.malformed = Counter("dns_malformed_count", "Packets that could not be read as a question.", **kw)
        self.records = Gauge("store_keys", "Keys in the in-memory mirror.", **kw)
        self.synced = Gauge("store_synced", "1 while the mirror is connected and in step with etcd.", **kw)
        self.revision = Gauge("store_revision", "etcd revision the mirror has applied.", **kw)
        # bound children, so the hot path does no label look-ups
        self._req = {s: self.requests.labels(s) for s in SYSTEMS}
        self._dur = {s: self.duration.labels(s) for s in SYSTEMS}
        self._size = {s: self.size.labels(s) for s in SYSTEMS}
        self._err = {(s, c): self.errors.labels(s, c) for s in SYSTEMS for c in CAUSES}

    def observe(self, system: str, seconds: float, size: int, cause: str | None) -> None:
        self._req[system].inc()
        self._dur[system].observe(seconds)
        self._size[system].observe(size)
        if cause is not None:
            self._err[(system, cause)].inc()
