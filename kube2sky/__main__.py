"""kube2sky's composition root: flags, the API watchers (one thread per
kind), the controller, the writer, leader election and the health port."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import threading

from tenacity import Retrying, retry_if_exception_type
from skydns_common.retry import backoff

from skydns_common import goflags
from skydns_common.etcd import Endpoints, Tls
from skydns_common.health import serve as serve_health

from . import customsync, filesource, kube, metrics
from .controller import KINDS, Controller
from .leader import Election
from .records import Options
from .writer import NotLeader, Writer

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


def pump(api, kind: str, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue, stop: threading.Event,
         timeout: int) -> None:
    """Thread body: list and watch one kind forever, relisting on 410 and
    retrying every failure with backoff."""
    def post(item):
        loop.call_soon_threadsafe(queue.put_nowait, item)

    for attempt in Retrying(wait=backoff(0.2, 10, 0.3),
                            retry=retry_if_exception_type(Exception),
                            before_sleep=lambda rs: log.warning("%s: %s; listing again", kind,
                                                                str(rs.outcome.exception())[:200])):
        with attempt:
            while not stop.is_set():
                for etype, obj, _ in kube.list_and_watch(api, kind, stop, timeout):
                    post((kind, etype, obj))
        if stop.is_set():
            return


def pump_file(path: str, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue, stop: threading.Event) -> None:
    """Thread body: every read of the file is a full listing of all kinds."""
    for objects in filesource.watch_file(path, stop):
        for kind in KINDS:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, "LIST", objects[kind]))


async def run(a: argparse.Namespace) -> None:
    domain = a.domain.lower().rstrip(".") + "."
    opt = Options(domain=domain, prefix=a.path_prefix.strip("/") or "skydns", legacy_names=a.legacy_names,
                  ptr=a.ptr)
    endpoints = Endpoints([u.strip() for u in a.etcd_server.split(",") if u.strip()],
                          Tls(a.etcd_cafile, a.etcd_certfile, a.etcd_keyfile))
    api = None if a.from_file else kube.api_client(a.kube_master_url, a.kubecfg_file)
    etcd_ok = {"ok": True}
    writer = Writer(endpoints, opt, a.etcd_mutation_timeout, on_health=lambda ok: etcd_ok.update(ok=ok))
    ctl = Controller(writer, opt)
    queue: asyncio.Queue = asyncio.Queue()
    loop = asyncio.get_running_loop()
    stop = threading.Event()

    key = a.leader_key or f"/kube2sky/leader/{opt.prefix}"
    election = Election(endpoints, key, a.id, a.lease_ttl)

    def ready() -> bool:
        if not etcd_ok["ok"] or not election.connected or ctl.listed != set(KINDS):
            return False
        return ctl.synced.is_set() if ctl.leading else election.following

    custom = customsync.start(a, api, writer, opt, loop, stop)
    health = await serve_health(a.healthz_bind_address, a.healthz_port, ready, metrics.REGISTRY)
    if a.from_file:
        threading.Thread(target=pump_file, args=(a.from_file, loop, queue, stop), name="file", daemon=True).start()
    else:
        for kind in KINDS:
            threading.Thread(target=pump, args=(api, kind, loop, queue, stop, a.watch_timeout),
                             name=f"watch-{kind}", daemon=True).start()

    def on_lead():
        writer.guard = (key.encode(), a.id.encode())
        ctl.leading, ctl.full = True, True
        metrics.leading(True)
        queue.put_nowait(("lead", "", None))
        if custom is not None:
            custom.wake()

    def on_lose():
        ctl.leading = False
        ctl.synced.clear()
        metrics.leading(False)

    electing = asyncio.create_task(election.run(on_lead, on_lose))
    source = f"file {a.from_file}" if a.from_file else f"API {a.kube_master_url or a.kubecfg_file or 'in-cluster'}"
    log.info("kube2sky for %s: %s, etcd %s, prefix /%s%s", domain, source,
             endpoints, opt.prefix, ", legacy names too" if opt.legacy_names else "")
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)

    async def control():
        while True:
            item = await queue.get()
            batch = [item]
            while not queue.empty():
                batch.append(queue.get_nowait())
            mark = metrics.batch()
            for kind, etype, obj in batch:
                if kind in KINDS:
                    ctl.on_event(kind, etype, obj)
            try:
                await ctl.sync()
                metrics.synced(mark)
            except NotLeader:
                log.warning("lost the lead while writing; stopping writes")
                on_lose()

    worker = asyncio.create_task(control())
    tasks = [worker, electing]
    if custom is not None:
        tasks.append(asyncio.create_task(custom.run(lambda: ctl.leading)))
    await asyncio.wait({*tasks, asyncio.create_task(stopping.wait())},
                       return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    health.close()
    for t in tasks:
        if t.done() and not t.cancelled() and t.exception():
            raise t.exception()


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
