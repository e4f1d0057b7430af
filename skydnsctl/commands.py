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

from kube2sky.records import Options as K2SOptions, unit_of

from skydns import config as config_mod
from skydns.store import Store
from skydns_common import msg
from . import diff as diff_mod, export, records, v2
from .store import Etcd, from_args

MANIFESTS = "/skydnsctl/hosts/"


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


_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


def _name(name: str) -> str:
    """A DNS name users may write records for (letters, digits, '-', '_')."""
    try:
        labels = msg.labels(name)
    except msg.RecordError as exc:
        raise ValueError(str(exc)) from None
    if not labels:
        raise ValueError("a name is needed")
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError(f"{name!r}: {label!r} is not a valid DNS label")
    if len(name.rstrip(".")) > 253:
        raise ValueError(f"{name!r} is longer than 253 characters")
    return msg.fqdn(name.lower())


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
    set_name = args.set or os.path.basename(args.file)
    if not set_name or "/" in set_name:
        raise ValueError(f"bad set name {set_name!r}")
    zone = msg.fqdn(args.zone.lower()) if args.zone else ""
    watch = getattr(args, "watch", False)
    seen = None
    while True:
        try:
            stamp = os.stat(args.file).st_mtime_ns
            if stamp != seen:
                seen = stamp
                with open(args.file, encoding="utf-8") as f:
                    text = f.read()
                await _sync_hosts(etcd, set_name, text, zone, args.ttl)
        except (OSError, ValueError) as exc:
            if not watch:
                raise ValueError(f"{args.file}: {exc}") from None
            print(f"skydnsctl: {args.file}: {exc}; the records stay as they are", file=sys.stderr, flush=True)
        if not watch:
            return 0
        await asyncio.sleep(args.interval)


async def _sync_hosts(etcd: Etcd, set_name: str, text: str, zone: str, ttl: int) -> None:
    """Write the file's records and remove those of this set that left it, in one transaction."""
    want = records.host_records(records.parse_hosts(text, zone), etcd.prefix, ttl)
    manifest_key = MANIFESTS + set_name
    raw = await etcd.get(manifest_key)
    had = set(json.loads(raw)["keys"]) if raw else set()
    tree = await etcd.tree()
    puts = {k: v for k, v in want.items() if tree.get(k, b"").decode(errors="replace") != v}
    deletes = sorted(k for k in had - set(want) if k in tree)
    manifest = json.dumps({"keys": sorted(want), "updated": int(time.time())})
    await etcd.apply({**puts, manifest_key: manifest}, deletes)
    print(f"hosts {set_name}: {len(want)} records, {len(puts)} written, {len(deletes)} removed", flush=True)


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
    sys.stdout.write(write(store, [r.name for r in rows], cfg, time.time()))
    return 0
