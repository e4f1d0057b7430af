"""``migrate v2``: copy the tree from an etcd v2 API into v3 keys.

Clusters of the kube2sky era kept skydns's records in etcd 2.x.  The v2
tree is read in one recursive GET, every leaf is written to the same key in
v3 with its value byte for byte, and a leaf with a v2 TTL is bound to a v3
lease of the time it had left.  Running it again changes nothing that is
already there (idempotent).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections import Counter

from skydns_common.etcd import TXN_OPS

from .store import Etcd


def leaves(node: dict, out: list, empty: list) -> None:
    if node.get("dir"):
        children = node.get("nodes") or []
        if not children and node.get("key"):
            empty.append(node["key"])
        for child in children:
            leaves(child, out, empty)
    elif "value" in node:
        out.append((node["key"], node["value"], node.get("ttl")))


def read_v2(url: str, prefix: str) -> tuple[list, list]:
    full = f"{url.rstrip('/')}/v2/keys/{prefix.strip('/')}?recursive=true&sorted=true"
    try:
        with urllib.request.urlopen(full, timeout=30) as r:
            body = json.load(r)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return [], []
        raise ConnectionError(f"etcd v2 API at {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ConnectionError(f"cannot read the v2 API at {url}: {getattr(exc, 'reason', exc)}") from None
    out: list[tuple[str, str, int | None]] = []
    empty: list[str] = []
    leaves(body.get("node") or {}, out, empty)
    return out, empty


class Progress:
    def __init__(self, total: int, mode: str) -> None:
        self.total = total
        self.on = mode == "always" or (mode == "auto" and total >= 500 and sys.stderr.isatty())
        self.done = 0

    def step(self, n: int) -> None:
        self.done += n
        if self.on:
            filled = int(30 * self.done / max(1, self.total))
            sys.stderr.write(f"\r[{'#' * filled}{' ' * (30 - filled)}] {self.done}/{self.total}")
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


async def run(etcd: Etcd, args) -> int:
    items, empty = read_v2(args.source, etcd.prefix)
    have = await etcd.tree()
    counts: Counter = Counter()
    plain: dict[str, bytes] = {}
    by_ttl: dict[int, dict[str, bytes]] = {}
    for key, value, ttl in items:
        raw = value.encode()
        if have.get(key) == raw and not ttl:
            counts["unchanged"] += 1
            continue
        counts["refreshed" if have.get(key) == raw else "updated" if key in have else "copied"] += 1
        if ttl:
            by_ttl.setdefault(int(ttl), {})[key] = raw
        else:
            plain[key] = raw
    progress = Progress(len(plain) + sum(len(v) for v in by_ttl.values()), args.progress)
    if not args.dry_run:
        batch = list(plain.items())
        for i in range(0, len(batch), TXN_OPS):
            await etcd.apply(dict(batch[i:i + TXN_OPS]))
            progress.step(len(batch[i:i + TXN_OPS]))
        for ttl, keys in sorted(by_ttl.items()):
            lease = await etcd.client.lease(ttl)
            batch = list(keys.items())
            for i in range(0, len(batch), TXN_OPS):
                await etcd.apply(dict(batch[i:i + TXN_OPS]), lease=lease)
                progress.step(len(batch[i:i + TXN_OPS]))
    verb = "would copy" if args.dry_run else "copied"
    leased = sum(len(v) for v in by_ttl.values())
    print(f"{verb} {counts['copied']} new and {counts['updated']} changed keys from {args.source} "
          f"({leased} bound to a lease for their v2 TTL, {counts['refreshed']} of them already there); "
          f"{counts['unchanged']} already identical")
    for key in empty:
        print(f"skipped {key}: empty directory (v3 has no directories)")
    return 0
