"""Prometheus metrics under the names users of the Go skydns already scrape.

``PROMETHEUS_NAMESPACE`` and ``PROMETHEUS_SUBSYSTEM`` default to ``skydns``
as in the original, giving ``skydns_skydns_dns_request_count_total`` and so
on (spec section 7).  Each error is counted once, where the reply is made.
"""

from __future__ import annotations

import time
from typing import Any, Final, Mapping


from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

from .dnsdata import NOERROR, NXDOMAIN, REFUSED, SERVFAIL

#: the timer durations are measured with (Final: compiled code reads it as
#: a constant, not from a module's dictionary on every question)
timer: Final = time.perf_counter

SYSTEMS: Final = ("auth", "cache", "recursive", "reverse", "stub")
CAUSES: Final = ("nxdomain", "nodata", "truncated", "refused", "overflow", "servfail")
_RCODE_CAUSES: Final = {NXDOMAIN: "nxdomain", SERVFAIL: "servfail", REFUSED: "refused"}


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


DURATION_BUCKETS: Final = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05,
                    0.1, 0.5, 1, 2, 5)
SIZE_BUCKETS: Final = (0, 100, 200, 300, 400, 512, 1024, 1232, 2048, 4096, 16384, 65535)


class _Series:
    """One system's request count and duration and size histograms, as plain
    numbers: observing a reply is a few additions, cheap enough for the
    packet-cache path (compiled, a few hundred instructions)."""

    __slots__ = ("requests", "durations", "duration_sum", "sizes", "size_sum", "errors")

    def __init__(self) -> None:
        self.requests = 0
        #: replies that were errors, by cause
        self.errors = dict.fromkeys(CAUSES, 0)
        self.durations = [0] * (len(DURATION_BUCKETS) + 1)
        self.duration_sum = 0.0
        self.sizes = [0] * (len(SIZE_BUCKETS) + 1)
        self.size_sum = 0

    def observe(self, seconds: float, size: int) -> None:
        self.requests += 1
        ns = seconds * 1e9
        whole = int(ns)
        self.durations[_bucket(_DURATION_NS, whole if whole >= ns else whole + 1)] += 1  # ceil: "le" buckets
        self.duration_sum += seconds
        self.sizes[_bucket(_SIZES, size)] += 1
        self.size_sum += size


#: DURATION_BUCKETS in whole nanoseconds: bounds compared as integers
#: (compiled, a float bound is boxed for every comparison)
_DURATION_NS: Final = tuple(round(b * 1e9) for b in DURATION_BUCKETS)
#: SIZE_BUCKETS as one tuple object (compiled, a Final tuple literal is a C
#: struct, boxed into a new tuple wherever it is passed)
_SIZES: Final[tuple[int, ...]] = tuple(SIZE_BUCKETS)


def _bucket(bounds: tuple[int, ...], value: int) -> int:
    """The histogram bucket of ``value``: the first bound not below it
    (bisect_left; the bounds are few and most values fall in the first ones)."""
    i = 0
    for bound in bounds:
        if value <= bound:
            return i
        i += 1
    return i


def _family(name: str, doc: str, bounds: tuple[float, ...], counts: dict[str, list[int]],
            sums: dict[str, float]) -> HistogramMetricFamily:
    fam = HistogramMetricFamily(name, doc, labels=["system"])
    for system in SYSTEMS:
        acc, buckets = 0, []
        for bound, n in zip(bounds + (float("inf"),), counts[system]):
            acc += n
            buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), acc))
        fam.add_metric([system], buckets, sums[system])
    return fam


class _Hot:
    """The request, duration, size and error series, counted in plain Python."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.series = {s: _Series() for s in SYSTEMS}
        #: the latest snapshot of each worker process sharing the port
        self.workers: dict[int, dict] = {}

    def snapshot(self) -> dict:
        """The counters as JSON data (what a worker sends its parent)."""
        series = self.series.items()
        return {"requests": {s: x.requests for s, x in series},
                "errors": [[s, c, n] for s, x in series for c, n in x.errors.items()],
                "duration": [{s: list(x.durations) for s, x in series}, {s: x.duration_sum for s, x in series}],
                "size": [{s: list(x.sizes) for s, x in series}, {s: x.size_sum for s, x in series}]}

    def _total(self) -> dict:
        total = self.snapshot()  # a copy: our own counters stay untouched
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
        for key, name, bounds, doc in (
                ("duration", "dns_request_duration_seconds", DURATION_BUCKETS, "Time to answer a question."),
                ("size", "dns_response_size_bytes", SIZE_BUCKETS, "Size of the replies sent.")):
            counts, sums = total[key]
            yield _family(p + name, doc, bounds, counts, sums)
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

    def auth(self) -> _Series:
        """The series of replies from the store (system auth), which the
        packet-cache path observes directly."""
        return self.hot.series["auth"]

    def observe(self, system: str, seconds: float, size: int, cause: str | None) -> None:
        series = self.hot.series[system]
        series.observe(seconds, size)
        if cause is not None:
            series.errors[cause] += 1
