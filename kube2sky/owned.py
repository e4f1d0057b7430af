"""Which etcd keys kube2sky owns, read back from a tree: the key layout.

The inverse of :mod:`kube2sky.records` (objects -> keys): a key's place in
the layout (:func:`layout`, shared with skydnsctl's layout migration), the
unit it belongs to, and what of a whole tree is kube2sky's to change (the
reconcile's "have").  Custom records under the prefix are never owned.
Pure: no client, no etcd, no clock.
"""

from __future__ import annotations

from typing import Iterable

from skydns_common import msg

from .records import META_UNIT, Options, Unit, service_key, service_unit

#: first labels below the domain that are not namespaces of the legacy layout
_NOT_NAMESPACES = ("svc", "pod", "dns")


def layout(key: str, base: str) -> tuple[str, list[str]] | None:
    """Where a key lies in kube2sky's layout below ``base`` (``D``):
    ``("svc", [ns, svc, leaf...])`` (no leaf: an ExternalName's own key),
    ``("pod", [ns, dashed ip, leaf...])``, ``("meta", [])`` for
    ``D/dns-version``, ``("legacy", [ns, svc])`` or ``("legacy", [ns, svc,
    hash])`` (a headless one) for a key outside svc/pod/dns, kube2sky's only
    when its value says so (:func:`skydns_common.msg.is_kube2sky_address`);
    None elsewhere."""
    if not key.startswith(base + "/"):
        return None
    parts = key[len(base) + 1:].split("/")
    if parts[0] == "svc" and len(parts) >= 3:  # an ExternalName leaf sits at D/svc/<ns>/<svc> itself
        return parts[0], parts[1:]
    if parts[0] == "pod" and len(parts) >= 4:
        return parts[0], parts[1:]
    if parts == ["dns-version"]:
        return "meta", []
    if len(parts) in (2, 3) and parts[0] not in _NOT_NAMESPACES:
        return "legacy", parts
    return None


def unit_of(key: str, value: bytes | str, opt: Options) -> Unit | None:
    """Which unit an existing key belongs to, or None when kube2sky does not
    own it (custom records under the prefix are never touched)."""
    if key.startswith(opt.arpa):
        try:
            host = msg.parse(value).host
        except msg.RecordError:
            return None
        tail = ".svc." + opt.domain
        if not host.endswith(tail):
            return None
        labels = host[: -len(tail)].split(".")
        return service_unit(labels[-1], labels[-2]) if len(labels) >= 2 else None
    place = layout(key, opt.base)
    if place is None:
        return None
    kind, parts = place
    if kind == "svc":
        return service_unit(parts[0], parts[1])
    if kind == "pod":
        return Unit("pod", parts[0], parts[1])
    if kind == "meta":
        return META_UNIT
    return None


def legacy_unit(key: str, value: bytes | str, opt: Options) -> Unit | None:
    """The service a ``D/<ns>/<svc>`` (or ``D/<ns>/<svc>/<hash>``) leaf with
    kube2sky's value would be the legacy name of, or None.  A guess from the key and value alone: custom
    records may have that shape too, so :func:`owned` asks for more."""
    place = layout(key, opt.base)
    if place is None or place[0] != "legacy":
        return None
    parts = place[1]
    raw = value.decode() if isinstance(value, bytes) else value
    if not msg.is_kube2sky_address(raw):
        return None
    # a legacy leaf D/<ns>/<svc>, or a legacy headless leaf D/<ns>/<svc>/<hash>
    # labelled by the hash of its own value
    if len(parts) == 2 or parts[2] == msg.hash_label(raw):
        return service_unit(parts[0], parts[1])
    return None


def owned(items: Iterable[tuple[str, bytes]], opt: Options) -> dict[Unit, dict[str, bytes]]:
    """What kube2sky owns among etcd's (key, value) pairs, by unit.  Keys in
    its own layout are owned by their place (:func:`unit_of`); a legacy
    ``D/<ns>/<svc>`` (or headless ``D/<ns>/<svc>/<hash>``) leaf only when a
    record of that service in kube2sky's layout (``D/svc/<ns>/<svc>/<label>``)
    holds the same value: the pair kube2sky writes together, never a shape
    alone (a custom record at ``D/hadoop/nn1`` may look exactly like one)."""
    have: dict[Unit, dict[str, bytes]] = {}
    legacy: list[tuple[Unit, str, bytes]] = []
    for key, value in items:
        unit = unit_of(key, value, opt)
        if unit is not None:
            have.setdefault(unit, {})[key] = value
        else:
            guess = legacy_unit(key, value, opt)
            if guess is not None:
                legacy.append((guess, key, value))
    leaves: dict[Unit, set[bytes]] = {}  # per unit, the values of its direct leaves D/svc/<ns>/<svc>/<label>
    for unit, key, value in legacy:
        mine = have.get(unit)
        if mine is None:
            continue
        if unit not in leaves:
            prefix = service_key(opt.base, unit.namespace, unit.name) + "/"
            leaves[unit] = {v for k, v in mine.items() if k.startswith(prefix) and "/" not in k[len(prefix):]}
        if value in leaves[unit]:
            mine[key] = value
    return have
