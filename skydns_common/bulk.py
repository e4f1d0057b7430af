"""Building a whole tree at once without the cyclic garbage collector.

A listing of etcd (skydns's mirror) or of the API server (kube2sky's full
reconcile) makes hundreds of thousands of objects that all live on; the
collector would walk them again and again while they are made, for nothing.
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
