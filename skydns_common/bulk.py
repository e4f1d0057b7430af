"""The cyclic garbage collector around bulk builds and while serving.

A listing of etcd (skydns's mirror) or of the API server (kube2sky's full
reconcile) makes hundreds of thousands of objects that all live on; the
collector would walk them again and again while they are made, for nothing.
While serving, each question makes and frees a few dozen objects: the
collector need not look at them every 700.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def without_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: the collector's thresholds while serving (Python's default is 700, 10, 10)
SERVING_THRESHOLDS = (20_000, 20, 20)


def serving_gc() -> None:
    """Collect young objects every 20,000 kept objects instead of 700: a
    server keeps a few objects per answer it caches (entries that live long)
    and frees the rest at once, so young collections found nothing to free
    and cost ~4% of a cold answer's instructions (callgrind, bench.coldpath)."""
    gc.set_threshold(*SERVING_THRESHOLDS)
