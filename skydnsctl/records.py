"""Pure views of the tree for skydnsctl: what a leaf answers and under which
name users ask for it; the layout migration plan (hosts files are
skydns_common.hosts's, shared with kube2sky).

Nothing here touches etcd: the commands read the prefix once into a
``key -> value`` map and hand it to these functions.  The rules come from
their one home: what a leaf answers from the server's :mod:`skydns.rrsets`,
the kube2sky layout from :mod:`kube2sky.records` and :mod:`kube2sky.owned`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from kube2sky import records as k2s
from kube2sky.owned import layout
from skydns.dnsdata import A, AAAA, CNAME, MX, SRV, TXT
from skydns.rrsets import leaf_types
from skydns_common import msg

_HEX = re.compile(r"^[0-9a-f]{1,8}$")
#: the order ls lists the types a leaf answers in
_TYPE_NAMES = ((A, "A"), (AAAA, "AAAA"), (CNAME, "CNAME"), (SRV, "SRV"), (MX, "MX"), (TXT, "TXT"))


@dataclass(frozen=True)
class Row:
    name: str      # the name users ask for
    types: str     # what it answers: A, AAAA, CNAME, SRV, TXT, MX
    host: str
    port: int
    ttl: int
    key: str
    service: msg.Service


def answers(s: msg.Service) -> list[str]:
    """The names of the question types a leaf answers, as the server has it."""
    types = leaf_types(s)
    return [name for t, name in _TYPE_NAMES if t in types]


def owner(key: str, value: str | bytes, prefix: str) -> str:
    """The name a leaf is asked for: its parent when the leaf label is
    generated (kube2sky's hash of the value) or the leaf sits under a
    ``_port._proto`` pair; otherwise the leaf's own name."""
    name = msg.name_of(key, prefix)
    label, _, parent = name.partition(".")
    raw = value if isinstance(value, bytes) else value.encode()
    if parent and (_HEX.match(label) and msg.hash_label(raw) == label or parent.startswith("_")):
        return parent
    return name


def rows(tree: Mapping[str, bytes], prefix: str, default_ttl: int = 3600) -> tuple[list[Row], list[tuple[str, str]]]:
    """(records, (key, why) of values that are not records)."""
    out, bad = [], []
    config_key = "/" + prefix.strip("/") + "/config"
    for key in sorted(tree):
        if key == config_key:
            continue
        try:
            s = msg.parse(tree[key])
            name = owner(key, tree[key], prefix)
        except msg.RecordError as exc:
            bad.append((key, str(exc)))
            continue
        out.append(Row(name, ",".join(answers(s)) or "-", s.host or s.text, s.port, s.ttl or default_ttl, key, s))
    return out, bad


def under(rows_: Iterable[Row], name: str | None, prefix: str) -> list[Row]:
    if not name:
        return list(rows_)
    head = msg.key_of(name, prefix)
    return [r for r in rows_ if r.key == head or r.key.startswith(head + "/")]


# -- kube2sky layouts ----------------------------------------------------------

@dataclass
class Move:
    service: str            # ns/name
    puts: dict[str, str]
    deletes: list[str]


def layout_plan(tree: Mapping[str, bytes], base: str, to: str) -> list[Move]:
    """Rewrite ClusterIP records between ``D/svc/<ns>/<svc>/<hash>`` (svc) and
    ``D/<ns>/<svc>`` (legacy).  ``both`` only adds; ``svc`` and ``legacy``
    also remove the address leaves of the other side (SRV leaves stay, so a
    round trip gives back the same tree)."""
    svc: dict[tuple[str, str], dict[str, str]] = {}
    legacy: dict[tuple[str, str], tuple[str, str]] = {}
    for key, raw in tree.items():
        place = layout(key, base)
        if place is None:
            continue
        kind, parts = place
        value = raw.decode(errors="replace")
        if not msg.is_kube2sky_address(value):
            continue
        if kind == "svc" and len(parts) == 3:
            svc.setdefault((parts[0], parts[1]), {})[key] = value
        elif kind == "legacy" and len(parts) == 2:
            legacy[(parts[0], parts[1])] = (key, value)
    moves: dict[tuple[str, str], Move] = {}

    def move(ns_name):
        return moves.setdefault(ns_name, Move("/".join(ns_name), {}, []))

    if to in ("svc", "both"):
        for (ns, name), (key, value) in legacy.items():
            target = f"{k2s.service_key(base, ns, name)}/{msg.hash_label(value)}"
            if tree.get(target, b"").decode(errors="replace") != value:
                move((ns, name)).puts[target] = value
            if to == "svc":
                move((ns, name)).deletes.append(key)
    if to in ("legacy", "both"):
        for (ns, name), leaves in svc.items():
            if len(leaves) != 1:
                continue  # several addresses cannot become one legacy leaf
            (value,) = leaves.values()
            target = k2s.legacy_key(base, ns, name)
            if tree.get(target, b"").decode(errors="replace") != value:
                move((ns, name)).puts[target] = value
            if to == "legacy":
                move((ns, name)).deletes.extend(leaves)
    return [m for _, m in sorted(moves.items()) if m.puts or m.deletes]
