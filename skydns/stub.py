"""Stub zones: leaves under ``stub.dns.<domain>`` send a zone to its own servers.

``/skydns/local/cluster/dns/stub/org/example/ns1`` ->
``{"host":"10.0.0.1","port":53}`` routes ``example.org.`` to 10.0.0.1:53.
The map is derived from the store, so it follows etcd changes; it is
rebuilt only when the store's generation moves.  Questions forwarded to a
stub server carry EDNS0 option 65011, and a question that already carries
it is dropped, so two servers stubbing each other cannot loop.
"""

from __future__ import annotations


from skydns_common import msg
from .store import Store

LOOP_OPTION = 65011


class StubZones:
    def __init__(self) -> None:
        self._generation = -1
        self._domain = ""
        self.zones: dict[str, tuple[str, ...]] = {}

    def refresh(self, store: Store, domain: str) -> None:
        if store.generation == self._generation and domain == self._domain:
            return
        self._generation, self._domain = store.generation, domain
        self.zones = zones(store, domain)

    def match(self, name: str) -> tuple[str, tuple[str, ...]] | None:
        """(zone, servers) of the longest stub zone holding ``name``."""
        if not self.zones:
            return None
        lname = name.lower()
        best = None
        for zone, servers in self.zones.items():
            if msg.in_domain(lname, zone) and (best is None or len(zone) > len(best[0])):
                best = (zone, servers)
        return best


def zones(store: Store, domain: str) -> dict[str, tuple[str, ...]]:
    base = "stub.dns." + domain
    try:
        leaves = store.find(msg.key_parts(base)) or []
    except msg.RecordError:
        return {}
    out: dict[str, list[str]] = {}
    tail = "." + base
    for leaf in leaves:
        name = msg.name_of(leaf.key, store.prefix)
        if not name.endswith(tail):
            continue
        zone = name[: -len(tail)].split(".", 1)
        if len(zone) < 2 or not zone[1]:
            continue
        ip = msg.address(leaf.service.host)
        if ip is None:
            continue
        port = leaf.service.port or 53
        server = f"[{ip[1]}]:{port}" if ip[0] == 6 else f"{ip[1]}:{port}"
        out.setdefault(msg.fqdn(zone[1]), []).append(server)
    return {z: tuple(s) for z, s in out.items()}
