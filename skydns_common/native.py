"""Which modules run compiled, and the switch back to their Python source.

The modules of skydns's per-question path (``NATIVE``) are compiled by mypyc
from their own source when the package is built (setup.py); the compiled
copy shadows the ``.py`` beside it.  The source runs instead -- all of the
modules, since compiled ones rely on each other's compiled classes -- when:

* ``SKYDNS_PURE=1`` is set (to compare, or to debug with pdb);
* the build could not compile them (no C compiler): nothing to shadow;
* a source file changed since it was compiled (``native.json``, written by
  the build, holds each source's SHA-256): an edited checkout runs what it
  says, with a warning to rebuild (``make setup``).

The same holds for skydns's UDP batch (``skydns/_udp.c``): see
:func:`udp_current`, which skydns.transport asks.

:func:`install` runs from ``skydns_common/__init__.py``, before any of
these modules is imported.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Final, Sequence

#: the modules compiled by mypyc (setup.py reads this tuple)
NATIVE = (
    "skydns_common.msg",
    "skydns.dnsdata",
    "skydns.nodes",
    "skydns.store",
    "skydns.rrsets",
    "skydns.answer",
    "skydns.codec",
    "skydns.wire",
    "skydns.packetcache",
    "skydns.replies",
    "skydns.handler",
    "skydns.metrics",
    "skydns.config",
    "skydns.state",
)

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = Path(__file__).resolve().parent / "native.json"

#: why the source runs ("" while the compiled copies do)
reason = ""


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the ``.py`` of a NATIVE module even where a compiled copy sits
    beside it (the usual finder prefers the extension module)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in NATIVE:
            return None
        leaf = fullname.rpartition(".")[2] + ".py"
        for entry in path or sys.path:
            source = os.path.join(entry, leaf)
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(fullname, source)
        return None


#: the C source of skydns._udp, under which native.json keeps its digest
UDP_SOURCE: Final = "skydns/_udp.c"


def _manifest() -> dict[str, str]:
    try:
        return dict(json.loads(MANIFEST.read_text()))
    except (OSError, ValueError):
        return {}


def compiled_digests() -> dict[str, str]:
    """The digests of the NATIVE sources the build compiled ({} when it
    compiled none)."""
    return {m: d for m, d in _manifest().items() if m in NATIVE}


def _digest(path: str) -> str:
    return hashlib.sha256((ROOT / path).read_bytes()).hexdigest()


def source_digest(module: str) -> str:
    return _digest(module.replace(".", "/") + ".py")


def udp_current() -> bool:
    """Whether a built skydns._udp was compiled from the C source beside it
    (True where no source is shipped: nothing to compare)."""
    try:
        current = _digest(UDP_SOURCE)
    except OSError:
        return True
    return _manifest().get(UDP_SOURCE) == current


def stale() -> list[str]:
    """The NATIVE modules whose source differs from what was compiled."""
    built = compiled_digests()
    out = []
    for module in NATIVE:
        try:
            if built.get(module) != source_digest(module):
                out.append(module)
        except OSError:
            continue  # an installed wheel may carry no sources: nothing to compare
    return out


#: the environment variable that asks for the Python source (and no C batch)
PURE_ENV: Final = "SKYDNS_PURE"


def pure_asked() -> bool:
    """Whether ``SKYDNS_PURE`` asks for the Python source of everything
    compiled: the NATIVE modules here, skydns's UDP batch (transport)."""
    return bool(os.environ.get(PURE_ENV))


def install() -> None:
    """Run the Python source of NATIVE when asked to, or when the compiled
    copies are missing or out of date; a no-op when they are current."""
    global reason
    if any(m in sys.modules for m in NATIVE) or any(isinstance(f, _SourceFinder) for f in sys.meta_path):
        return  # decided already (this runs once per process)
    if pure_asked():
        reason = f"{PURE_ENV} is set"
    elif not compiled_digests():
        reason = "not compiled"
    else:
        changed = stale()
        if not changed:
            return
        reason = "changed since compiled: " + ", ".join(changed)
        warnings.warn(f"skydns-stack: {reason}; running the Python source (make setup compiles it again)",
                      RuntimeWarning, stacklevel=2)
    sys.meta_path.insert(0, _SourceFinder())


def running_compiled() -> bool:
    """Whether the NATIVE modules imported so far are the compiled ones."""
    mods = [sys.modules[m] for m in NATIVE if m in sys.modules]
    return bool(mods) and all(not str(getattr(m, "__file__", "")).endswith(".py") for m in mods)
