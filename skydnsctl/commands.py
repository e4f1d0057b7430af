"""The skydnsctl commands: each reads what it needs, validates, then writes.

Bad input raises ValueError with one line for the user, before anything is
written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import sys
import time
from urllib.parse import quote

from kube2sky.owned import unit_of
from kube2sky.records import Options as K2SOptions

from skydns import config as config_mod
from skydns.store import Store
from skydns_common import hosts as hosts_mod, msg
from . import diff as diff_mod, export, records, v2
from .store import Etcd, from_args

#: where manifests were kept before they had the prefix and the file's path in their key
LEGACY_MANIFESTS = "/skydnsctl/hosts/"
#: an explicit --set name (the default, the file's absolute path, is quoted into one label)
_SET = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


async def run(args) -> int:
    if args.cmd == "diff":
        return await diff_mod.run(args)
    async with from_args(args) as etcd:
        cfg = await _config(etcd, args)
        handler = {
            "ls": ls, "add": add, "rm": rm, "hosts": hosts, "migrate": migrate, "export": export_,
        }[args.cmd]
        return await handler(etcd, cfg, args)


async def _config(etcd: Etcd, args) -> config_mod.Config:
    cfg = config_mod.Config(domain="cluster.local.", path_prefix=etcd.prefix,
                            machines=tuple(etcd.endpoints.urls), nameservers=())
    raw = await etcd.get(f"/{etcd.prefix}/config")
    if raw is not None:
        try:
            cfg = config_mod.merge_etcd(cfg, raw)
        except ValueError as exc:
            print(f"skydnsctl: ignoring /{etcd.prefix}/config: {exc}", file=sys.stderr)
    if args.domain:
        cfg = config_mod.normalise(dataclasses.replace(cfg, domain=args.domain))
    return config_mod.normalise(cfg)


def _name(name: str) -> str:
    """A DNS name users may write records for (the rule is hosts.check_name's)."""
    return hosts_mod.check_name(name)


# -- ls --------------------------------------------------------------------

async def ls(etcd: Etcd, cfg, args) -> int:
    name = _name(args.name) if args.name else ""
    rows, bad = records.rows(await etcd.tree(), etcd.prefix, cfg.ttl)
    rows = records.under(rows, name, etcd.prefix)
    if args.json:
        for r in rows:
            print(json.dumps({"name": r.name, "type": r.types, "host": r.host, "port": r.port, "ttl": r.ttl,
                              "key": r.key, "value": json.loads(msg.dumps(r.service))}))
    else:
        table = [("NAME", "TYPE", "HOST", "PORT", "TTL", "KEY")]
        table += [(r.name, r.types, r.host, str(r.port or ""), str(r.ttl), r.key) for r in rows]
        widths = [max(len(row[i]) for row in table) for i in range(5)]
        for row in table:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[5])
    for key, why in bad:
        if not name or key.startswith(msg.key_of(name, etcd.prefix)):
            print(f"skydnsctl: {key} is not a record: {why}", file=sys.stderr)
    return 0


# -- add / rm --------------------------------------------------------------

async def add(etcd: Etcd, cfg, args) -> int:
    name = _name(args.name)
    hosts_mod.check_served(name, cfg.domain)
    host = args.host
    if not host and not args.text:
        raise ValueError("give a HOST (an IP or a name) or --text")
    if host and msg.address(host) is None:
        _name(host)
    fields = dict(host=host, port=args.port, priority=args.priority, weight=args.weight, ttl=args.ttl,
                  text=args.text, mail=args.mail)
    try:
        service = msg.parse(json.dumps(fields))  # the same checks a stored value gets
    except msg.RecordError as exc:
        raise ValueError(str(exc)) from None
    value = msg.dumps(service)
    key = f"{msg.key_of(name, etcd.prefix)}/{msg.hash_label(value)}"
    await etcd.apply({key: value})
    print(f"{key} {value}")
    return 0


async def rm(etcd: Etcd, cfg, args) -> int:
    name = _name(args.name)
    head = msg.key_of(name, etcd.prefix)
    tree = {k: v for k, v in (await etcd.tree(head)).items() if k == head or k.startswith(head + "/")}
    if args.host:
        tree = {k: v for k, v in tree.items() if _host(v) == args.host}
    if not tree:
        raise ValueError(f"no records under {name}")
    opt = K2SOptions(domain=cfg.domain, prefix=etcd.prefix)
    owned = sorted(k for k, v in tree.items() if unit_of(k, v, opt) is not None)
    if owned and not args.force:
        raise ValueError(f"{owned[0]} is kube2sky's (it would write it back); use --force to remove it anyway")
    await etcd.apply({}, sorted(tree))
    for key in sorted(tree):
        print(f"removed {key}")
    return 0


def _host(raw: bytes) -> str:
    try:
        return msg.parse(raw).host
    except msg.RecordError:
        return ""


# -- hosts -----------------------------------------------------------------

async def hosts(etcd: Etcd, cfg, args) -> int:
    """``import`` adds and updates the file's names; ``sync`` also removes
    the names that left the file.  A set is known by its manifest under
    /skydnsctl/hosts/<prefix>/<set>, the set being ``--set`` or the file's
    absolute path, so two files both called ``hosts`` are two sets."""
    path = os.path.abspath(args.file)
    if args.set and not _SET.match(args.set):
        raise ValueError(f"bad set name {args.set!r}: letters, digits, '.', '_' and '-' only")
    set_name = args.set or quote(path, safe="")
    zone = hosts_mod.check_zone(args.zone, cfg.domain)  # outside the domain: say so before reading anything
    watch = getattr(args, "watch", False)
    seen = None
    while True:
        try:
            st = os.stat(args.file)
            stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
            if stamp != seen:
                seen = stamp
                with open(args.file, encoding="utf-8") as f:
                    text = f.read()
                await _write_set(etcd, cfg.domain, set_name, path, text, zone, args.ttl, args.hosts_cmd == "sync",
                                 legacy=LEGACY_MANIFESTS + (args.set or os.path.basename(path)))
        except (OSError, ValueError) as exc:
            if not watch:
                raise ValueError(f"{args.file}: {exc}") from None
            print(f"skydnsctl: {args.file}: {exc}; the records stay as they are", file=sys.stderr, flush=True)
        if not watch:
            return 0
        await asyncio.sleep(args.interval)


async def _write_set(etcd: Etcd, domain: str, set_name: str, path: str, text: str, zone: str, ttl: int,
                     sync: bool, legacy: str = "") -> None:
    """Write the file's records and remove this set's records that left it
    (sync) or the old addresses of the names it lists (import), in
    transactions of up to TXN_OPS operations (Etcd.apply: etcd's
    --max-txn-ops), so a large file is not written atomically; keys other
    sets or other writers own are never removed."""
    served = hosts_mod.parse(text, domain, zone)
    want = hosts_mod.records(served, etcd.prefix, ttl)
    manifests: dict[str, bytes] = {}
    for root in hosts_mod.manifest_roots(etcd.prefix):
        manifests.update(await etcd.tree(root))
    manifest_key = hosts_mod.manifest_roots(etcd.prefix)[0] + set_name
    raw = manifests.pop(manifest_key, None)
    retired = []
    if raw is None and legacy and (raw := await etcd.get(legacy)) is not None:
        retired = [legacy]  # the set's manifest from before sets had a prefix and a path: taken over
    had = hosts_mod.manifest_keys(raw)
    others = set().union(*map(hosts_mod.manifest_keys, manifests.values()))
    tree = await etcd.tree()
    updated = {msg.key_of(name, etcd.prefix) for name in served}
    remove = None if sync else [k for k in had if k.rsplit("/", 1)[0] in updated]
    plan = hosts_mod.plan_set(want, had, {k: tree.get(k) for k in set(want) | had}, others, remove)
    manifest = json.dumps({"keys": plan.claimed, "source": path, "updated": int(time.time())})
    await etcd.apply({**plan.puts, manifest_key: manifest}, plan.deletes + retired)
    print(f"hosts {path}: {len(served)} names under {domain}, {len(want)} records, {len(plan.puts)} written, "
          f"{len(plan.deletes)} removed", flush=True)


# -- migrate ---------------------------------------------------------------

async def migrate(etcd: Etcd, cfg, args) -> int:
    if args.mig_cmd == "v2":
        return await v2.run(etcd, args)
    base = msg.key_of(cfg.domain, etcd.prefix)
    moves = records.layout_plan(await etcd.tree(), base, args.to)
    for m in moves:
        for k, v in sorted(m.puts.items()):
            print(f"{m.service}: put {k} {v}")
        for k in m.deletes:
            print(f"{m.service}: delete {k}")
        if not args.dry_run:
            await etcd.apply(m.puts, m.deletes)
    print(f"{len(moves)} services {'would change' if args.dry_run else 'changed'}")
    return 0


# -- export ----------------------------------------------------------------

async def export_(etcd: Etcd, cfg, args) -> int:
    if args.format == "corefile":
        sys.stdout.write(export.corefile(cfg.domain, etcd.prefix, etcd.endpoints.urls, cfg.nameservers,
                                         cfg.rcache_ttl))
        return 0
    tree = await etcd.tree()
    rows, _ = records.rows(tree, etcd.prefix, cfg.ttl)
    store = Store(etcd.prefix)
    store.replace(tree.items(), 0)  # the server's index, so the answers are the server's
    write = export.hosts if args.format == "hosts" else export.zone
    # each name once: a headless service has a row per endpoint under one name
    sys.stdout.write(write(store, sorted({r.name for r in rows}), cfg, time.time()))
    return 0
