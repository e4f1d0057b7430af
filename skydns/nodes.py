"""The parts of the store's trie: a :class:`Node` per label, a
:class:`Leaf` per key.

Apart from :mod:`skydns.store`, which reads and writes them, because every
answer walks them: the answer logic and the packet cache hold nodes (a
cached reply keeps the versions of the nodes it read).
"""

from __future__ import annotations

from typing import Final, Iterator

from skydns_common import msg

#: the shared empty children of a leaf node: never written (a node gets a
#: dict of its own before its first child, the store's ``_put`` checks by identity)
NO_CHILDREN: Final[dict[str, Node]] = {}


class Leaf:
    """One key of the tree.  Treated as immutable (a new leaf replaces it)."""

    __slots__ = ("key", "service", "depth", "expires")

    def __init__(self, key: str, service: msg.Service, depth: int, expires: float | None = None) -> None:
        self.key = key
        self.service = service
        self.depth = depth
        #: wall-clock time at which the key's etcd lease runs out, if it has one
        self.expires = expires

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Leaf) and (self.key, self.service, self.depth, self.expires) == \
            (other.key, other.service, other.depth, other.expires)

    def __hash__(self) -> int:
        return hash((self.key, self.depth))

    def __repr__(self) -> str:
        return f"Leaf({self.key!r}, {self.service!r}, {self.depth}, {self.expires!r})"


class Node:
    """One label of the trie.  ``version`` moves whenever a key at or below
    this node changes, so a cached answer can tell whether what it read is
    still what the store holds."""

    __slots__ = ("children", "leaf", "version")

    def __init__(self) -> None:
        self.children: dict[str, Node] = NO_CHILDREN  # a dict once it has any (saves memory)
        self.leaf: Leaf | None = None
        self.version = 0

    def leaves(self) -> Iterator[Leaf]:
        if self.leaf is not None:
            yield self.leaf
        for label in sorted(self.children):
            yield from self.children[label].leaves()


def bump(path: list[Node]) -> None:
    """Move the version of every node along a path (a key at its end changed)."""
    for node in path:
        node.version += 1
