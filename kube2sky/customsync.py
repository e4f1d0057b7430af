"""Applying the kube-dns ConfigMap to etcd: the I/O around customdns.

A task of its own beside the controller: the source thread posts the
ConfigMap's data, :meth:`CustomDns.update` parses it (a bad key: one log
line and ``skydns_kube2sky_configmap_errors_total{key}``), and while this replica
leads, :meth:`CustomDns.run` reads the manifest, the keys involved and
``/<prefix>/config``, and writes the plan in one transaction that compares
the manifest's and the config's revisions (someone else wrote them: read
again) and the leader key.  Records change by put and delete in that one
transaction, so a changed name never answers NXDOMAIN in between.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from typing import Any, Callable
from urllib.parse import quote

from skydns_common import hosts

from . import customdns, customsource, metrics
from .records import Options
from .writer import MAX_OPS, NotLeader, Writer, chunks

log = logging.getLogger(__name__)


class CustomDns:
    def __init__(self, writer: Writer, opt: Options, source: str, manifest_name: str) -> None:
        self.writer = writer
        self.opt = opt
        self.source = source
        self.manifest_key = hosts.manifest_roots(opt.prefix)[1] + manifest_name
        self.config_key = f"/{opt.prefix.strip('/')}/config"
        self.known = False  # the source has said what there is (or that there is nothing)
        self.desired = customdns.desired(None, opt.domain, opt.prefix)
        self.kick = asyncio.Event()

    def update(self, data: dict[str, str] | None) -> None:
        d = customdns.desired(data, self.opt.domain, self.opt.prefix)
        for section, why in sorted(d.errors.items()):
            log.error("%s: key %s rejected: %s; its last good state stays", self.source, section, why)
            metrics.CONFIGMAP_ERRORS.labels(section).inc()
        if data is None and self.known:
            log.info("%s is gone: removing what it produced", self.source)
        self.desired, self.known = d, True
        self.kick.set()

    def wake(self) -> None:
        """Apply again (on taking the lead)."""
        self.kick.set()

    async def run(self, leading: Callable[[], bool]) -> None:
        while True:
            await self.kick.wait()
            self.kick.clear()
            if not self.known or not leading():
                continue
            try:
                await self.apply()
            except NotLeader:
                log.warning("%s: lost the lead while writing", self.source)
            except Exception:  # noqa: BLE001 - the Service records go on; the next change tries again
                log.exception("%s: not applied", self.source)

    async def apply(self) -> None:
        for _ in range(10):
            if await self._try():
                metrics.CONFIGMAP_APPLIED.inc()
                return
            log.info("%s: the manifest or %s changed while writing; again", self.source, self.config_key)
        log.error("%s: gave up after 10 tries; will try on the next change", self.source)

    async def _try(self) -> bool:
        d = self.desired
        read: list[Any] = await asyncio.gather(*map(self.writer.read_prefix, hosts.manifest_roots(self.opt.prefix)),
                                               self.writer.read([self.manifest_key, self.config_key]))
        *roots, got = read
        manifests = {k: v for root in roots for k, v in root.items() if k != self.manifest_key}
        others = set().union(*map(hosts.manifest_keys, manifests.values()))
        raw = got.get(self.manifest_key, (None, 0))[0]
        current = await self.writer.read(customdns.wanted_keys(d, raw))
        existing = {k: v for k, (v, _) in current.items()}
        p = customdns.plan(d, raw, existing, others, got.get(self.config_key, (None, 0))[0], self.source)
        for section, why in p.errors.items():
            if section not in d.errors:
                log.error("%s: key %s not applied: %s", self.source, section, why)
        revisions = {k: got.get(k, (None, 0))[1] for k in (self.manifest_key, self.config_key)}
        puts, deletes = dict(p.puts), list(p.deletes)
        tail: dict[str, str] = {}
        if p.config == customdns.DELETE:
            deletes.append(self.config_key)
        elif p.config is not None:
            tail[self.config_key] = p.config
        tail[self.manifest_key] = p.manifest
        if raw == p.manifest.encode() and not puts and not deletes and len(tail) == 1:
            return True
        if len(puts) + len(deletes) + len(tail) <= MAX_OPS:
            ok = await self.writer.transact({**puts, **tail}, deletes, revisions)
        else:
            ok = await self._large(d, puts, deletes, tail, revisions, raw)
        if ok:
            log.info("%s: %d put, %d deleted%s", self.source, len(puts), len(deletes),
                     ", nameservers in " + self.config_key if self.config_key in tail else "")
        return ok

    async def _large(self, d, puts, deletes, tail, revisions, raw) -> bool:
        """More than one transaction holds: first claim every key to be
        written (so none is left unowned if this stops half-way), then the
        puts, then the deletes with the final manifest: names are never
        missing in between."""
        claim = customdns.read_manifest(raw)
        claim["keys"] = sorted(set(claim.get("keys") or []) | set(puts))
        sections = customdns.sections_of(claim)
        claim["sections"] = {s: sorted(set(sections.get(s) or []) | (set(puts) & set(d.records.get(s, {}))))
                             for s in customdns.KEYED}
        if not await self.writer.transact({self.manifest_key: json.dumps(claim)}, [], revisions):
            return False
        for step_puts, step_deletes in chunks(list(puts.items()), deletes):
            if not await self.writer.transact(dict(step_puts), step_deletes, {}):
                return False
        return await self.writer.transact(tail, [], {})


def add_flags(p) -> None:
    """kube-dns's own flag names for its ConfigMap."""
    p.add_argument("--config-map", default="", help="name of the kube-dns ConfigMap to follow (e.g. kube-dns): "
                   "its stubDomains, upstreamNameservers and hosts keys; optional, may come and go")
    p.add_argument("--config-map-namespace", default="kube-system", help="namespace of --config-map")
    p.add_argument("--config-dir", default="", help="a mounted copy of the ConfigMap (kubelet's atomic-writer "
                   "layout) to follow instead of --config-map")


def start(a, api, writer: Writer, opt: Options, loop: asyncio.AbstractEventLoop,
          stop: threading.Event) -> CustomDns | None:
    """The ConfigMap source thread and its CustomDns, when a flag asks for one."""
    if a.config_map and a.config_dir:
        raise ValueError("--config-map and --config-dir are two ways to the same thing: give one")
    if not a.config_map and not a.config_dir:
        return None
    if a.config_map:
        if api is None:
            raise ValueError("--config-map needs an API server (with --from-file, use --config-dir)")
        source = f"ConfigMap {a.config_map_namespace}/{a.config_map}"
        custom = CustomDns(writer, opt, source, f"{a.config_map_namespace}/{a.config_map}")
    else:
        path = os.path.abspath(a.config_dir)
        custom = CustomDns(writer, opt, f"config dir {path}", "dir:" + quote(path, safe=""))

    def post(data):
        loop.call_soon_threadsafe(custom.update, data)

    target: Callable[..., None]
    args: tuple[Any, ...]
    if a.config_map:
        target, args = customsource.pump_api, (api, a.config_map_namespace, a.config_map, post, stop, a.watch_timeout)
    else:
        target, args = customsource.pump_dir, (path, post, stop)
    threading.Thread(target=target, args=args, name="configmap", daemon=True).start()
    return custom
