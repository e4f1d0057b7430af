"""Whole reply packets kept per question, reused with the ID patched.

Most questions a cluster asks are the same few names again and again.  The
first answer is built by the pure answer logic; its packet (without the
2-byte ID) is kept under the question packet's bytes (also without the ID:
flags, question, EDNS and its buffer size are part of the key, so the same
bytes always deserve the same reply).  An entry is dropped exactly when the
store changes under a name it read: each entry keeps the (trie node,
version) pairs its answer depended on, and a node's version moves whenever
a key at or below it changes.  A changed configuration or a relist drops
everything; answers with an SOA (NXDOMAIN, NODATA) expire with the hourly
serial, and so do signed answers (their signatures are renewed well before
they run out); answers whose TTLs count down (etcd leases) are never kept.  With
round-robin on, a few rotations of the answer are kept and served in turn.
The cache is bounded, in entries and in the size of a question kept
(``MAX_KEY``), and a random-name flood cannot push out the names asked all
the time (see :class:`_Table`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Callable, Final

from .codec import ID_LEN
from .config import Config
from .dnsdata import Deps
from .rrsets import next_serial_at
from .store import Store


#: second chances given per eviction at most: when every entry of a full
#: protected segment was used, one promotion would otherwise walk them all
MAX_CHANCES: Final = 64
#: questions longer than this (a client's own EDNS options) are not kept: a
#: flood of such keys would hold megabytes per thousand entries
MAX_KEY: Final = 512


class Entry:
    __slots__ = ("tails", "turn", "deps", "generation", "epoch", "config", "expires", "used")

    def __init__(self, tails: list[bytes], deps: tuple[tuple[Any, int], ...], generation: int, epoch: int,
                 config: Config, expires: float) -> None:
        self.tails = tails
        self.turn = 0
        self.deps = deps
        self.generation = generation
        self.epoch = epoch
        self.config = config
        self.expires = expires
        #: asked since it last reached the front of protected (its second chance)
        self.used = False


class _Table:
    """One transport's kept replies in two segments (a 2Q-like scheme): a new
    reply goes to *probation*; a hit there moves it to *protected*.  A flood
    of names asked once only ever churns probation, so the names asked
    again and again keep their place.  Protected approximates
    least-recently-used with a second chance (CLOCK): a hit only marks the
    entry used; eviction takes the oldest entry not used since its last
    chance and sends used ones to the back, so a flood of names asked
    twice pushes out its own names before the hot ones, and a hit costs no
    reordering.  Both segments are insertion-ordered dicts evicted from the
    front with ``popitem(last=False)``: O(1) at any fill (a plain dict's
    ``next(iter(d))`` walks every slot earlier evictions left empty, so a
    full cache got slower with every insert)."""

    __slots__ = ("probation", "protected", "probation_cap", "protected_cap")

    def __init__(self, capacity: int) -> None:
        self.probation: OrderedDict[bytes, Entry] = OrderedDict()
        self.protected: OrderedDict[bytes, Entry] = OrderedDict()
        self.probation_cap = max(1, capacity // 4)
        self.protected_cap = max(1, capacity - self.probation_cap)

    def __len__(self) -> int:
        return len(self.probation) + len(self.protected)

    def promote(self, key: bytes) -> Entry | None:
        """The entry in probation, moved to protected (it was asked again)."""
        entry = self.probation.pop(key, None)
        if entry is not None:
            protected = self.protected
            chances = MAX_CHANCES
            while len(protected) >= self.protected_cap:
                old_key, old = protected.popitem(last=False)
                if old.used and chances:  # its second chance: to the back, unmarked
                    chances -= 1
                    old.used = False
                    protected[old_key] = old
            protected[key] = entry
        return entry

    def drop(self, key: bytes) -> None:
        if self.protected.pop(key, None) is None:
            self.probation.pop(key, None)

    def add(self, key: bytes, entry: Entry) -> None:
        protected = self.protected
        if key in protected:
            protected[key] = entry  # rebuilt after a change: keeps its place
            return
        probation = self.probation
        probation.pop(key, None)
        if len(probation) >= self.probation_cap:
            probation.popitem(last=False)
        probation[key] = entry


class PacketCache:
    def __init__(self, capacity: int = 200_000, clock: Callable[[], float] = time.time) -> None:
        self.capacity = capacity
        self.clock = clock
        self.udp = _Table(capacity)
        self.tcp = _Table(capacity)

    def __len__(self) -> int:
        return len(self.udp) + len(self.tcp)

    def get(self, data: bytes, tcp: bool, store: Store, config: Config) -> bytes | None:
        table = self.tcp if tcp else self.udp
        key = data[ID_LEN:]
        entry = table.protected.get(key)
        if entry is None:
            entry = table.promote(key)
            if entry is None:
                return None
        else:
            entry.used = True
        if entry.generation != store.generation or entry.config is not config:
            if (entry.epoch != store.epoch or entry.config is not config
                    or any(node.version != version for node, version in entry.deps)):
                table.drop(key)
                return None
            entry.generation = store.generation  # still true after the changes since
        if entry.expires and self.clock() >= entry.expires:
            table.drop(key)
            return None
        tails = entry.tails
        if len(tails) == 1:
            return data[:ID_LEN] + tails[0]
        entry.turn += 1
        return data[:ID_LEN] + tails[entry.turn % len(tails)]

    def put(self, data: bytes, tcp: bool, tails: list[bytes], deps: Deps, store: Store, config: Config,
            has_soa: bool, signed: bool = False) -> None:
        if len(data) > MAX_KEY:
            return
        expires = next_serial_at(self.clock()) if (has_soa or signed) else 0
        table = self.tcp if tcp else self.udp
        table.add(data[ID_LEN:], Entry(tails, tuple(deps), store.generation, store.epoch, config, expires))
