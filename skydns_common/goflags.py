"""Go ``flag`` package spellings on top of argparse.

Old manifests pass ``-machines=http://...``, ``-addr 127.0.0.1:53``,
``-no-rec`` and kube2sky's ``-kube_master_url=...``.  argparse only knows
``--long`` options, so argv is normalised first: one leading dash becomes
two and underscores in a flag's name become dashes.  Boolean flags accept
Go's ``-flag``, ``-flag=true`` and ``-flag=false``.
"""

from __future__ import annotations

import argparse
import re
from typing import Sequence

_FLAG = re.compile(r"^-{1,2}([A-Za-z][A-Za-z0-9_.-]*)(=.*)?$", re.S)

_TRUE = {"1", "t", "true", "yes", "on"}
_FALSE = {"0", "f", "false", "no", "off"}


def parse_bool(v: str | bool) -> bool:
    if isinstance(v, bool):
        return v
    s = v.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {v!r}")


def normalise(argv: Sequence[str]) -> list[str]:
    out: list[str] = []
    rest = False
    for arg in argv:
        m = None if rest or arg == "-h" else _FLAG.match(arg)
        if arg == "--":
            rest = True
        if m:
            out.append("--" + m.group(1).replace("_", "-") + (m.group(2) or ""))
        else:
            out.append(arg)
    return out


def add_bool(parser: argparse.ArgumentParser, name: str, default: bool, help: str) -> None:
    parser.add_argument(name, nargs="?", const=True, default=default, type=parse_bool,
                        metavar="BOOL", help=help)


def duration(v: str) -> float:
    """A Go duration (``2s``, ``500ms``, ``1m30s``) or a plain number of seconds."""
    v = v.strip()
    try:
        return float(v)
    except ValueError:
        pass
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", v):
        if m.start() != pos:
            break
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(v) or not v:
        raise argparse.ArgumentTypeError(f"not a duration: {v!r}")
    return total
