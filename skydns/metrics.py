"""Prometheus metrics under the names users of the Go skydns already scrape.

``PROMETHEUS_NAMESPACE`` and ``PROMETHEUS_SUBSYSTEM`` default to ``skydns``
as in the original, giving ``skydns_skydns_dns_request_count_total`` and so
on (spec section 7).  Each error is counted once, where the reply is made.
"""

from __future__ import annotations

from typing import Any, Mapping

import copy
from bisect import bisect_left

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

from .dnsdata import NOERROR, NXDOMAIN, REFUSED, SERVFAIL

SYSTEMS = ("auth", "cache", "recursive", "reverse", "stub")
CAUSES = ("nxdomain", "nodata", "truncated", "refused", "overflow", "servfail")
_RCODE_CAUSES = {NXDOMAIN: "nxdomain", SERVFAIL: "servfail", REFUSED: "refused"}


def cause(rcode: int, truncated: bool = False, empty: bool = False) -> str | None:
    """The error cause a reply is counted under, or None: by its rcode,
    then its TC bit, then (NOERROR with no answer) NODATA."""
    by_rcode = _RCODE_CAUSES.get(rcode)
    if by_rcode is not None:
        return by_rcode
    if truncated:
        return "truncated"
    if rcode == NOERROR and empty:
        return "nodata"
    return None


DURATION_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05,
                    0.1, 0.5, 1, 2, 5)
SIZE_BUCKETS = (0, 100, 200, 300, 400, 512, 1024, 1232, 2048, 4096, 16384, 65535)


class _Histograms:
    """Per-system histograms kept as plain lists: observing one is a bisect
    and two additions, cheap enough for the packet-cache path; exposed
    through a collector when Prometheus scrapes."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = {s: [0] * (len(bounds) + 1) for s in SYSTEMS}
        self.sums = dict.fromkeys(SYSTEMS, 0.0)

    def family(self, name: str, doc: str) -> HistogramMetricFamily:
        fam = HistogramMetricFamily(name, doc, labels=["system"])
        for system in SYSTEMS:
            counts, acc, buckets = self.counts[system], 0, []
            for bound, n in zip(self.bounds + (float("inf"),), counts):
                acc += n
                buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), acc))
            fam.add_metric([system], buckets, self.sums[system])
        return fam


class _Hot:
    """The request, duration, size and error series, counted in plain Python."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.requests = dict.fromkeys(SYSTEMS, 0)
        self.errors = {(s, c): 0 for s in SYSTEMS for c in CAUSES}
        self.duration = _Histograms(DURATION_BUCKETS)
        self.size = _Histograms(SIZE_BUCKETS)
        #: the latest snapshot of each worker process sharing the port
        self.workers: dict[int, dict] = {}

    def snapshot(self) -> dict:
        return {"requests": self.requests, "errors": [[s, c, n] for (s, c), n in self.errors.items()],
                "duration": [self.duration.counts, self.duration.sums], "size": [self.size.counts, self.size.sums]}

    def _total(self) -> dict:
        total = copy.deepcopy(self.snapshot())  # our own counters stay untouched
        errors = {(s, c): n for s, c, n in total["errors"]}
        for snap in self.workers.values():
            for system, n in snap["requests"].items():
                total["requests"][system] += n
            for s_, c, n in snap["errors"]:
                errors[(s_, c)] += n
            for name in ("duration", "size"):
                counts, sums = snap[name]
                for system in SYSTEMS:
                    total[name][0][system] = [a + b for a, b in zip(total[name][0][system], counts[system])]
                    total[name][1][system] += sums[system]
        total["errors"] = errors
        return total

    def collect(self):
        p, total = self.prefix, self._total()
        req = CounterMetricFamily(p + "dns_request_count", "DNS questions answered.", labels=["system"])
        for system, n in total["requests"].items():
            req.add_metric([system], n)
        yield req
        for key, name, hist, doc in (
                ("duration", "dns_request_duration_seconds", self.duration, "Time to answer a question."),
                ("size", "dns_response_size_bytes", self.size, "Size of the replies sent.")):
            view = _Histograms(hist.bounds)
            view.counts, view.sums = total[key]
            yield view.family(p + name, doc)
        err = CounterMetricFamily(p + "dns_error_count", "Replies that were errors, by cause.",
                                  labels=["system", "cause"])
        for (system, cause), n in total["errors"].items():
            err.add_metric([system, cause], n)
        yield err


class Metrics:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = env or {}
        ns = env.get("PROMETHEUS_NAMESPACE", "skydns")
        sub = env.get("PROMETHEUS_SUBSYSTEM", "skydns")
        self.registry = CollectorRegistry()
        kw: dict[str, Any] = dict(namespace=ns, subsystem=sub, registry=self.registry)
        self.hot = _Hot("_".join(x for x in (ns, sub) if x) + "_")
        self.registry.register(self.hot)
        self.cachemiss = Counter("dns_cachemiss_count", "Cache misses.", ["cache"], **kw)
        self.cachehit = Counter("dns_cachehit_count", "Cache hits.", ["cache"], **kw)
        self.bad_values = Counter("store_invalid_value_count", "etcd values skipped as invalid.", **kw)
        self.malformed = Counter("dns_malformed_count", "Packets that could not be read as a question.", **kw)
        self.records = Gauge("store_keys", "Keys in the in-memory mirror.", **kw)
        self.synced = Gauge("store_synced", "1 while the mirror is connected and in step with etcd.", **kw)
        self.revision = Gauge("store_revision", "etcd revision the mirror has applied.", **kw)

    def fast_path(self):
        """The observer for replies served from the packet cache (answers
        from the store: system auth)."""
        requests, dur, size = self.hot.requests, self.hot.duration, self.hot.size
        dcounts, dsums, dbounds = dur.counts["auth"], dur.sums, dur.bounds
        scounts, ssums, sbounds = size.counts["auth"], size.sums, size.bounds

        def seen(seconds: float, nbytes: int) -> None:
            requests["auth"] += 1
            dcounts[bisect_left(dbounds, seconds)] += 1
            dsums["auth"] += seconds
            scounts[bisect_left(sbounds, nbytes)] += 1
            ssums["auth"] += nbytes
        return seen

    def observe(self, system: str, seconds: float, size: int, cause: str | None) -> None:
        hot = self.hot
        hot.requests[system] += 1
        hot.duration.counts[system][bisect_left(hot.duration.bounds, seconds)] += 1
        hot.duration.sums[system] += seconds
        hot.size.counts[system][bisect_left(hot.size.bounds, size)] += 1
        hot.size.sums[system] += size
        if cause is not None:
            hot.errors[(system, cause)] += 1
