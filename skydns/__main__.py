"""skydns's composition root: flags -> config, then store, mirror, handler,
listeners and the health endpoint, wired together and run until a signal."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from typing import Any, Callable

from . import config as config_mod
from .config import Config
from skydns_common.addr import split_hostport
from skydns_common.bulk import serving_gc
from skydns_common.etcd import Endpoints, Tls
from .forward import Forwarder
from .handler import Handler
from .state import State
from skydns_common.health import serve as serve_health
from .metrics import Metrics
from .mirror import Mirror
from .store import Store
from . import transport, workers

log = logging.getLogger("skydns")


async def initial_config(cfg: Config, endpoints: Endpoints, wait: float = 3.0) -> Config:
    """Read /<prefix>/config before binding, so ``dns_addr`` there applies;
    when etcd does not answer in time, start with the flags and let the
    mirror apply the rest once it connects."""
    try:
        async with endpoints.client(timeout=wait) as client:
            got = await asyncio.wait_for(client.get(f"/{cfg.path_prefix}/config".encode()), wait)
    except Exception as exc:  # noqa: BLE001 - any failure: go on with the flags
        log.warning("could not read /%s/config from %s yet (%s); starting with flags",
                    cfg.path_prefix, endpoints, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return cfg
    if got is None:
        return cfg
    try:
        return config_mod.merge_etcd(cfg, got.value)
    except ValueError as exc:
        log.error("ignoring /%s/config: %s", cfg.path_prefix, exc)
        return cfg


def load_signer(cfg: Config):
    """The DNSSEC signer of ``-dnssec``, or None; ValueError for a bad key."""
    if not cfg.dnssec:
        return None
    from .dnssec import Signer
    signer = Signer.load(cfg.dnssec, cfg.domain, cfg.scache)
    log.info("signing %s for DO questions with key tag %d", cfg.domain, dns_key_tag(signer))
    return signer


def dns_key_tag(signer) -> int:
    import dns.dnssec
    return dns.dnssec.key_id(signer.dnskey)


async def run(flags: Config, argv: list[str] | None = None) -> None:
    if flags.worker:
        workers.die_with_parent()
    serving_gc()
    endpoints = Endpoints(flags.machines, Tls(flags.ca_cert, flags.tls_pem, flags.tls_key))
    cfg = await initial_config(flags, endpoints)
    store = Store(cfg.path_prefix)
    state = State(store, cfg, load_signer(cfg))
    metrics = Metrics(os.environ)
    forwarder = Forwarder(lambda: state.config)
    handler = Handler(state, forwarder, metrics)
    bound_addr = cfg.dns_addr

    def on_config(raw: bytes | None) -> None:
        new = flags
        if raw is not None:
            try:
                new = config_mod.merge_etcd(flags, raw)
            except ValueError as exc:
                log.error("ignoring /%s/config: %s", flags.path_prefix, exc)
                return
        if new.dns_addr != bound_addr:
            log.warning("dns_addr %s in /%s/config takes effect after a restart", new.dns_addr, flags.path_prefix)
        if new.dnssec != state.config.dnssec or new.domain != state.config.domain:
            try:
                state.signer = load_signer(new)
            except ValueError as exc:
                log.error("keeping the previous DNSSEC key: %s", exc)
        if new != state.config:
            state.config = new
            log.info("configuration now: domain %s, ttl %d, min_ttl %d, nameservers %s",
                     new.domain, new.ttl, new.min_ttl, ",".join(new.nameservers) or "none")

    mirror = Mirror(endpoints, state, metrics, on_config)
    mirror_task = asyncio.create_task(mirror.run())
    if flags.worker:
        # a worker takes its share of the port only once it can answer from a full mirror
        await mirror.synced.wait()
    count = flags.workers or workers.default_count()
    host, port = split_hostport(cfg.dns_addr)
    udp, tcp = await transport.start(handler, host, port, cfg.tcp_idle_timeout,
                                     reuse_port=flags.worker or count > 1)
    hhost, hport = split_hostport(cfg.health_addr, 8080)
    health = prom = None
    side = []
    if flags.worker:
        side.append(asyncio.create_task(workers.report(metrics)))
    else:
        mirror_state = lambda: json.dumps({"revision": store.revision, "keys": len(store),  # noqa: E731
                                           "sha256": store.digest(), "ready": state.ready()})
        health = await serve_health(hhost, hport, state.ready, metrics.registry,
                                    extra={"/debug/mirror": mirror_state})
        if count > 1:
            side.append(asyncio.create_task(workers.supervise(argv or [], count, metrics)))
    if os.environ.get("PROMETHEUS_PORT") and not flags.worker:
        prom = await serve_health(hhost, int(os.environ["PROMETHEUS_PORT"]), state.ready, metrics.registry,
                                  metrics_path=os.environ.get("PROMETHEUS_PATH", "/metrics"))
    log.info("skydns %sserving %s on %s (udp, tcp) from etcd %s prefix /%s; forwarding to %s",
             "worker " if flags.worker else f"({count} processes) " if count > 1 else "",
             cfg.domain, cfg.dns_addr, ",".join(cfg.machines), cfg.path_prefix,
             "nobody (no-rec)" if cfg.no_rec else (",".join(cfg.nameservers) or "nobody (no nameservers)"))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stop_task = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({mirror_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    log.info("skydns stopping")
    for t in (mirror_task, stop_task, *side):
        t.cancel()
    await asyncio.gather(*side, return_exceptions=True)
    udp.close()
    for server in (tcp, health, prom):
        if server is not None:
            server.close()
    if mirror_task in done and (failed := mirror_task.exception()) is not None:
        raise failed


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        flags = config_mod.from_args(argv)
        Endpoints(flags.machines, Tls(flags.ca_cert, flags.tls_pem, flags.tls_key))
        split_hostport(flags.dns_addr)
    except ValueError as exc:
        print(f"skydns: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if flags.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("aetcd").setLevel(logging.WARNING)
    runner: Callable[..., Any]
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        load_signer(flags)
    except ValueError as exc:
        print(f"skydns: {exc}", file=sys.stderr)
        return 2
    try:
        runner(run(flags, argv))
    except OSError as exc:
        log.error("cannot serve: %s", exc)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
