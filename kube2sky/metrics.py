"""kube2sky's Prometheus metrics, served on its health port at /metrics.

Named in the style of skydns's own (``skydns_skydns_dns_request_count_total``:
namespace ``skydns``, then the program), so one scrape config and one
dashboard cover both programs: ``skydns_kube2sky_*``.  One registry per
process (kube2sky runs one controller), filled from the watchers (events,
relists, watch restarts), the writer (units, keys, failed transactions),
the election (leadership) and the control loop (event -> write latency).
kube2sky/README.md lists them.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

NAMESPACE, SUBSYSTEM = "skydns", "kube2sky"
REGISTRY = CollectorRegistry()


def _kw(name: str, doc: str) -> dict:
    return {"name": name, "documentation": doc, "namespace": NAMESPACE, "subsystem": SUBSYSTEM,
            "registry": REGISTRY}


EVENTS = Counter(**_kw("events", "API watch events received, by kind and type"), labelnames=("kind", "type"))
RELISTS = Counter(**_kw("relists", "Full listings of a kind (the first one included)"), labelnames=("kind",))
WATCH_RESTARTS = Counter(**_kw("watch_restarts", "Watches opened again from the last resourceVersion "
                                                 "(the server ended the stream)"), labelnames=("kind",))
UNITS = Counter(**_kw("units_written", "Units (a service or a pod IP) whose records were written"))
KEYS_PUT = Counter(**_kw("keys_put", "etcd keys put"))
KEYS_DELETED = Counter(**_kw("keys_deleted", "etcd keys deleted"))
TXN_FAILURES = Counter(**_kw("txn_failures", "etcd transactions that failed: cause=etcd (an error, retried) "
                                             "or not_leader (the leader key changed hands)"),
                       labelnames=("cause",))
LATENCY = Histogram(**_kw("event_to_write_duration_seconds",
                          "Time from the oldest API event of a batch to the etcd write it caused"),
                    buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60))
LEADER = Gauge(**_kw("leader", "1 while this replica holds the lead and writes, else 0"))
LEADER_CHANGES = Counter(**_kw("leader_changes", "Times this replica took or lost the lead"))
CONFIGMAP_ERRORS = Counter(**_kw("configmap_errors", "kube-dns ConfigMap keys rejected (the last good state stays)"),
                           labelnames=("key",))
CONFIGMAP_APPLIED = Counter(**_kw("configmap_applied", "kube-dns ConfigMap states written to etcd"))

for _cause in ("etcd", "not_leader"):
    TXN_FAILURES.labels(_cause)

def event(kind: str, etype: str) -> None:
    """An API event (or a listing, etype LIST) arrived: called from the watcher threads.
    Only counted: the latency clock starts where the controller receives an event."""
    if etype == "LIST":
        RELISTS.labels(kind).inc()
    else:
        EVENTS.labels(kind, etype).inc()


def written(units: int, puts: int, deletes: int) -> None:
    UNITS.inc(units)
    KEYS_PUT.inc(puts)
    KEYS_DELETED.inc(deletes)


def synced(since: float | None) -> None:
    """A batch whose oldest event arrived at ``since`` (time.monotonic()) was written."""
    if since is not None:
        LATENCY.observe(time.monotonic() - since)


_leading = False


def leading(yes: bool) -> None:
    global _leading
    if _leading != yes:
        LEADER_CHANGES.inc()
    _leading = yes
    LEADER.set(1 if yes else 0)
