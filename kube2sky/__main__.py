"""kube2sky's composition root: flags, then the sources (the API watch per
kind, or a file), the writer, the election and the controller, wired
together with the health port and run until a signal."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys

from skydns_common import goflags
from skydns_common.etcd import Endpoints, Tls
from skydns_common.health import serve as serve_health

from . import customsync, kube, metrics, sources
from .controller import KINDS, Controller
from .leader import Election
from .records import Options
from .writer import Writer

log = logging.getLogger("kube2sky")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kube2sky", description="Keep /skydns in etcd in step with Kubernetes")
    p.add_argument("--domain", default="cluster.local", help="cluster domain")
    p.add_argument("--etcd-server", default="http://127.0.0.1:4001", help="comma-separated etcd endpoints")
    p.add_argument("--etcd-mutation-timeout", type=goflags.duration, default=10.0,
                   help="report not-ready when a write fails for this long (Go duration)")
    p.add_argument("--kube-master-url", default="", help="API server URL (plain http:// allowed)")
    p.add_argument("--kubecfg-file", default="", help="kubeconfig file")
    p.add_argument("--from-file", default="", help="read Services/Endpoints/Pods from this YAML or JSON file "
                   "(kubectl get svc,endpoints,pods -A -o yaml) instead of an API server; re-read on change")
    p.add_argument("--healthz-port", type=int, default=8081, help="port serving /healthz and /readiness")
    p.add_argument("--healthz-bind-address", default="0.0.0.0", help="address of the health port")
    p.add_argument("--path-prefix", default="skydns", help="etcd key prefix")
    p.add_argument("--etcd-cafile", default="", help="CA certificate of etcd (TLS)")
    p.add_argument("--etcd-certfile", default="", help="client certificate for etcd")
    p.add_argument("--etcd-keyfile", default="", help="client key for etcd")
    goflags.add_bool(p, "--legacy-names", False, "also write <svc>.<ns>.<domain> (kube2sky <= 1.11)")
    goflags.add_bool(p, "--ptr", True, "write PTR records for ClusterIPs and named endpoints")
    p.add_argument("--leader-key", default="", help="etcd key for leader election (default /kube2sky/leader/<prefix>)")
    p.add_argument("--lease-ttl", type=int, default=10, help="leader lease TTL in seconds")
    p.add_argument("--id", default=f"{socket.gethostname()}-{os.getpid()}", help="this replica's identity")
    p.add_argument("--watch-timeout", type=int, default=60, help="timeoutSeconds of one watch request")
    customsync.add_flags(p)
    return p


async def run(a: argparse.Namespace) -> None:
    domain = a.domain.lower().rstrip(".") + "."
    opt = Options(domain=domain, prefix=a.path_prefix.strip("/") or "skydns", legacy_names=a.legacy_names,
                  ptr=a.ptr)
    endpoints = Endpoints([u.strip() for u in a.etcd_server.split(",") if u.strip()],
                          Tls(a.etcd_cafile, a.etcd_certfile, a.etcd_keyfile))
    api = None if a.from_file else kube.api_client(a.kube_master_url, a.kubecfg_file)
    if a.from_file:
        inputs = [("file", sources.file(a.from_file, KINDS))]
    else:
        inputs = [(f"watch-{kind}", sources.api(api, kind, a.watch_timeout)) for kind in KINDS]
    election = Election(endpoints, a.leader_key or f"/kube2sky/leader/{opt.prefix}", a.id, a.lease_ttl)
    writer = Writer(endpoints, opt, a.etcd_mutation_timeout)
    ctl = Controller(writer, opt, election)
    loop = asyncio.get_running_loop()
    beside = []
    custom = customsync.start(a, api, writer, opt, loop, ctl.stop)
    if custom is not None:
        ctl.on_lead.append(custom.wake)
        beside.append(lambda: custom.run(lambda: ctl.leading))
    health = await serve_health(a.healthz_bind_address, a.healthz_port, ctl.ready, metrics.REGISTRY)
    source = f"file {a.from_file}" if a.from_file else f"API {a.kube_master_url or a.kubecfg_file or 'in-cluster'}"
    log.info("kube2sky for %s: %s, etcd %s, prefix /%s%s", domain, source,
             endpoints, opt.prefix, ", legacy names too" if opt.legacy_names else "")
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    running = asyncio.create_task(ctl.run(inputs, beside))
    await asyncio.wait({running, asyncio.create_task(stopping.wait())}, return_when=asyncio.FIRST_COMPLETED)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    health.close()
    if not running.cancelled() and (failed := running.exception()) is not None:
        raise failed


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a = parser().parse_args(goflags.normalise(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("aetcd").setLevel(logging.WARNING)
    try:
        asyncio.run(run(a))
    except ValueError as exc:
        print(f"kube2sky: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
