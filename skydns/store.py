"""The in-memory mirror of the etcd prefix that every answer is read from.

skydns never reads etcd per query: the mirror module fills this index from
one range read and then a watch, and the answer logic walks it.  Keys are
stored as a trie of labels in key order (``/skydns/local/cluster/svc/...``
-> ``local`` -> ``cluster`` -> ``svc``), so the subtree of a DNS name, with
or without wildcards, is found without scanning the whole tree.  An
etcd key may be both a leaf and the parent of other keys; both are kept.

Pure data structure: no I/O, no clock.  ``generation`` counts changes so
caches built on top can tell when to drop what they hold.
"""

from __future__ import annotations

import gc
import hashlib
from typing import Iterable

from skydns_common import msg
from skydns_common.bulk import without_gc

from .dnsdata import Deps
from .nodes import NO_CHILDREN, Leaf, Node, bump

__all__ = ["Leaf", "Node", "Store"]


class Store:
    def __init__(self, prefix: str = "skydns") -> None:
        self.prefix = prefix.strip("/")
        self.head = "/" + self.prefix
        self.config_key = self.head + "/config"
        self.root = Node()
        #: every key mirrored and its value; None for a value exactly as
        #: kube2sky writes it for its leaf's host and port (most of a cluster's
        #: tree: ~28 MB at the scalability envelope), which :meth:`value`
        #: writes again
        self.raw: dict[str, bytes | None] = {}
        self.invalid: dict[str, str] = {}
        self.config_raw: bytes | None = None
        self.revision = 0
        self.synced = False
        self.generation = 0
        #: moves when the whole index is replaced (a relist)
        self.epoch = 0

    # -- writing --------------------------------------------------------

    def replace(self, kvs: Iterable[tuple[str, bytes]], revision: int) -> list[tuple[str, str]]:
        """Load a full listing taken at ``revision``; returns the (key, error)
        pairs of values that were skipped."""
        fresh = Store(self.prefix)
        with without_gc():
            errors = fresh.load(kvs)
        self.adopt(fresh, revision)
        return errors

    def load(self, kvs: Iterable[tuple[str, bytes]]) -> list[tuple[str, str]]:
        """Add keys to a store that nobody reads yet (a listing's pages, one
        after the other, before :meth:`adopt` makes them the index); returns
        the (key, error) pairs of values that were skipped."""
        errors = []
        for key, value in kvs:
            err = self._put(key, value, None, touch=False)  # adopt's new epoch invalidates every cache
            if err:
                errors.append((key, err))
        return errors

    def adopt(self, fresh: Store, revision: int) -> None:
        """Serve ``fresh``'s keys from now on, as of ``revision`` (the end of
        a relist: the index answering until now is dropped whole)."""
        self.root = fresh.root
        self.raw = fresh.raw
        self.invalid = fresh.invalid
        self.config_raw = fresh.config_raw
        self.epoch += 1
        # The index has no reference cycles (refcounting frees a replaced one), so
        # the cyclic collector need never walk it: without this a full collection
        # over hundreds of thousands of leaves pauses answers for a good part of a
        # second (and the first would come as soon as the collector is back on).
        gc.freeze()
        self.revision = revision
        self.synced = True
        self.generation += 1

    def put(self, key: str, value: bytes, revision: int = 0, expires: float | None = None) -> str | None:
        """Apply one put; returns the error when the value was skipped."""
        err = self._put(key, value, expires)
        self.revision = max(self.revision, revision)
        self.generation += 1
        return err

    def delete(self, key: str, revision: int = 0) -> None:
        self.raw.pop(key, None)
        self.invalid.pop(key, None)
        if key == self.config_key:
            self.config_raw = None
        else:
            self._remove(key)
        self.revision = max(self.revision, revision)
        self.generation += 1

    def set_expiry(self, key: str, expires: float | None) -> None:
        parts = self._labels(key)
        path = self._walk(parts) if parts else None
        if path is not None and parts and len(path) > len(parts) and path[-1].leaf is not None:
            leaf = path[-1].leaf
            path[-1].leaf = Leaf(leaf.key, leaf.service, leaf.depth, expires)
            bump(path)
            self.generation += 1

    def _put(self, key: str, value: bytes, expires: float | None, touch: bool = True) -> str | None:
        if key == self.config_key:
            self.raw[key] = self.config_raw = value
            return None
        parts = self._labels(key)
        if not parts:
            self.raw[key] = value
            return "key is not under the prefix or has an empty segment"
        try:
            service, written = msg.parse_written(value)
        except msg.RecordError as exc:
            self.raw[key] = value
            self.invalid[key] = str(exc)
            self._remove(key)
            return str(exc)
        self.raw[key] = None if written else value
        if self.invalid:
            self.invalid.pop(key, None)
        node = self.root
        path = [node] if touch else None
        for label in parts:
            children = node.children
            child = children.get(label)
            if child is None:
                if children is NO_CHILDREN:
                    children = node.children = {}
                child = children[label] = Node()
            node = child
            if path is not None:
                path.append(node)
        self._keep_value(node.leaf, key)
        node.leaf = Leaf(key, service, len(parts), expires)
        if path is not None:
            bump(path)
        return None

    def _remove(self, key: str) -> None:
        parts = self._labels(key)
        if not parts:
            return
        path = self._walk(parts)
        if len(path) <= len(parts):
            return
        self._keep_value(path[-1].leaf, key)
        path[-1].leaf = None
        bump(path)
        # prune empty nodes so a deleted name stops existing (NXDOMAIN)
        for i in range(len(parts), 0, -1):
            node = path[i]
            if node.leaf is None and not node.children:
                del path[i - 1].children[parts[i - 1]]
            else:
                break

    def _keep_value(self, leaf: Leaf | None, key: str) -> None:
        """Before ``key`` takes or drops a leaf that another key (in other
        case: the index is case-blind) wrote, keep that key's value, which
        could otherwise not be written again from its leaf."""
        if leaf is not None and leaf.key != key and leaf.key in self.raw and self.raw[leaf.key] is None:
            self.raw[leaf.key] = _written(leaf)

    def _labels(self, key: str) -> list[str] | None:
        return msg.split_key(key, self.head)

    def _descend(self, parts: list[str]) -> tuple[Node, bool]:
        """(the deepest node along ``parts``, whether it is the whole name):
        the read side's walk, which needs no path."""
        node = self.root
        for label in parts:
            nxt = node.children.get(label)
            if nxt is None:
                return node, False
            node = nxt
        return node, True

    def _walk(self, parts: list[str]) -> list[Node]:
        """The nodes from the root along ``parts`` as far as they exist: one
        more than ``len(parts)`` when the whole name is there."""
        path = [self.root]
        for label in parts:
            nxt = path[-1].children.get(label)
            if nxt is None:
                break
            path.append(nxt)
        return path

    # -- reading --------------------------------------------------------

    def find(self, parts: list[str], deps: Deps | None = None) -> list[Leaf] | None:
        """The leaves at or below a name (labels in key order; ``*``/``any``
        match one label), sorted by key.  ``None`` when no key exists there:
        the name does not exist.  ``deps`` collects (node, version) pairs
        whose versions move whenever this result could change."""
        if "*" in parts or "any" in parts:
            return self._find_wild(parts, deps)
        node = self.root
        for label in parts:
            nxt = node.children.get(label)
            if nxt is None:
                if deps is not None:
                    deps.append((node, node.version))  # the name's absence lies under node
                return None
            node = nxt
        if deps is not None:
            deps.append((node, node.version))  # every match lies under node
        children = node.children
        if not children:
            return [node.leaf] if node.leaf is not None else []
        if node.leaf is None and len(children) == 1:  # most names: one hash-named leaf below
            for child in children.values():
                if not child.children and child.leaf is not None:
                    return [child.leaf]
        return list(node.leaves())

    def _find_wild(self, parts: list[str], deps: Deps | None) -> list[Leaf] | None:
        """find for a name with a wildcard label: every child matches it."""
        i = next(n for n, label in enumerate(parts) if label in msg.WILDCARDS)
        node, found = self._descend(parts[:i])
        if deps is not None:
            deps.append((node, node.version))  # every match, or its absence, lies under node
        if not found:
            return None
        frontier = [node]
        for label in parts[i:]:
            if label in msg.WILDCARDS:
                frontier = [c for n in frontier for _, c in sorted(n.children.items())]
            else:
                frontier = [c for n in frontier if (c := n.children.get(label)) is not None]
            if not frontier:
                return None
        return [leaf for n in frontier for leaf in n.leaves()]

    def exact(self, parts: list[str], deps: Deps | None = None) -> tuple[bool, Leaf | None]:
        """(whether the name exists, the leaf at exactly that key)."""
        node, found = self._descend(parts)
        if deps is not None:
            deps.append((node, node.version))
        return (True, node.leaf) if found else (False, None)

    def __len__(self) -> int:
        return len(self.raw)

    def value(self, key: str) -> bytes | None:
        """The value of a key mirrored, as etcd holds it (None: not mirrored)."""
        if key not in self.raw:
            return None
        raw = self.raw[key]
        if raw is not None:
            return raw
        node, found = self._descend(self._labels(key) or [])
        leaf = node.leaf
        # only a leaf's own value is left out (_put keeps a value whose leaf another key takes)
        assert found and leaf is not None and leaf.key == key, key
        return _written(leaf)

    def digest(self) -> str:
        """A hash of every key and value mirrored, to compare with etcd's
        content without showing it."""
        h = hashlib.sha256()
        for key in sorted(self.raw):
            h.update(key.encode() + b"\0" + (self.value(key) or b"") + b"\0")
        return h.hexdigest()


def _written(leaf: Leaf) -> bytes:
    """The value kube2sky wrote for a leaf whose value was not kept."""
    return msg.kube2sky_value(leaf.service.host, leaf.service.port).encode()
