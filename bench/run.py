#!/usr/bin/env python3
"""skydns against dnsmasq on this machine, in one run, with dnsperf.

Starts a real etcd, loads Kubernetes-shaped records (services with a named
port, headless services with endpoints, pods) the way kube2sky writes them,
starts skydns on it and dnsmasq (Debian) serving the same names from a hosts
file, then drives each with dnsperf in turn and prints, per workload,
questions/s, mean and p99 latency, lost questions and the ratio
skydns / dnsmasq.  Everything listens on 127.0.0.1 and stops by PID.

    make bench BENCH_ARGS="--seconds 10 --records 1000 --workers 1"
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aetcd

from kube2sky import records
from bench.peers import Dnsmasq, Knot, cpu_times, cpus, pin
from tests.procs import Etcd, Skydns

ROOT = Path(__file__).resolve().parents[1]

DOMAIN = "cluster.local."


def pod_name(i: int) -> str:
    return f"10-{200 + i // 65536}-{i // 256 % 256}-{i % 256}.default.pod.cluster.local"


def objects(n: int, headless: int, endpoints: int, pods_n: int | None = None):
    services, eps, pods = [], {}, []
    for i in range(n):
        ip = f"10.{100 + i // 65536}.{i // 256 % 256}.{i % 256}"
        services.append({"metadata": {"name": f"svc{i}", "namespace": "default"},
                         "spec": {"clusterIP": ip, "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}})
    for i in range(n if pods_n is None else pods_n):
        pods.append({"metadata": {"name": f"pod{i}", "namespace": "default"},
                     "status": {"podIP": f"10.{200 + i // 65536}.{i // 256 % 256}.{i % 256}"}})
    for h in range(headless):
        name = f"hl{h}"
        services.append({"metadata": {"name": name, "namespace": "default"},
                         "spec": {"clusterIP": "None", "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}})
        eps[("default", name)] = {"metadata": {"name": name, "namespace": "default"}, "subsets": [{
            "addresses": [{"ip": f"10.50.{h % 256}.{e}", "hostname": f"{name}-{e}"} for e in range(endpoints)],
            "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}]}
    return services, eps, pods


def load(etcd_url: str, tree: dict[str, str]) -> None:
    async def go():
        host, port = etcd_url.rsplit("//", 1)[1].split(":")
        async with aetcd.Client(host, int(port), timeout=30) as c:
            items = list(tree.items())
            for i in range(0, len(items), 120):
                ops = [c.transactions.put(k.encode(), v.encode()) for k, v in items[i:i + 120]]
                await c.transaction(compare=[], success=ops, failure=[])
    asyncio.run(go())


def hosts_file(tree: dict[str, str], prefix: str, path: Path) -> None:
    """The A records users ask for, as dnsmasq's hosts file."""
    from skydns_common import msg
    lines = set()
    for key, value in tree.items():
        s = msg.parse(value)
        parts = key.split("/")
        if not s.host or s.port or "_tcp" in parts or key.startswith(f"/{prefix}/arpa/"):
            continue
        name = msg.name_of("/".join(parts[:-1]), prefix)  # the hash or hostname leaf answers for its parent
        lines.add(f"{s.host} {name.rstrip('.')}")
    path.write_text("\n".join(sorted(lines)) + "\n")


@dataclass
class Result:
    qps: float
    mean_ms: float
    p99_ms: float
    lost: int
    sent: int
    cpu_us: float = float("nan")  # the server's own CPU per answer
    sys_us: float = float("nan")  # the part of it spent in the kernel


#: the CPU dnsperf runs on (None: wherever; see peers.pin)
CLIENT_CPU: int | None = None


def dnsperf(port: int, queries: Path, seconds: float | None, clients: int, dnssec: bool = False,
            pid: int | None = None) -> Result:
    cmd = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries), "-c", str(clients),
           "-q", "100", "-t", "2", "-v"] + (["-D"] if dnssec else [])
    cmd += ["-l", str(seconds)] if seconds else ["-n", "1"]
    latencies = []
    stats = {}
    # dnsperf writes to a file and is read afterwards: a reader running beside
    # it would take CPU from the server being measured on a small machine
    with tempfile.TemporaryFile("w+") as out:
        before = cpu_times(pid) if pid else (0.0, 0.0)
        client = CLIENT_CPU
        subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False,
                       preexec_fn=None if client is None else lambda: os.sched_setaffinity(0, {client}))
        after = cpu_times(pid) if pid else (float("nan"), float("nan"))
        cpu, system = sum(after) - sum(before), after[1] - before[1]
        out.seek(0)
        for line in out:
            if line.startswith("> "):
                try:
                    latencies.append(float(line.rsplit(None, 1)[1]))
                except ValueError:
                    pass
            elif ":" in line:
                k, _, v = line.strip().partition(":")
                stats[k.strip()] = v.strip()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
    mean = sum(latencies) / len(latencies) if latencies else float("nan")
    sent, lost = int(stats.get("Queries sent", "0").split()[0]), int(stats.get("Queries lost", "0").split()[0])
    answered = max(sent - lost, 1)
    return Result(float(stats.get("Queries per second", "0").split()[0]), mean * 1000, p99 * 1000,
                  lost, sent, cpu / answered * 1e6, system / answered * 1e6)


def median(results: list[Result]) -> Result:
    """The run with the median rate (lost questions summed over every run)."""
    ordered = sorted(results, key=lambda r: r.qps)
    mid = ordered[len(ordered) // 2]
    return Result(mid.qps, mid.mean_ms, mid.p99_ms, sum(r.lost for r in results), sum(r.sent for r in results),
                  mid.cpu_us, mid.sys_us)


def compare(workload: str, paths: list[Path], servers: dict, seconds: float | None, rounds: int,
            clients: int) -> None:
    """Each server driven in turn, ``rounds`` times (the machine's speed
    drifts: a VM), each given by its median round; skydns's q/s and CPU per
    answer printed as ratios to each peer's, with every round's q/s ratio.
    Round k asks ``paths[k % len(paths)]`` (the cold workload has a set of
    names for each round, so that every name is asked once)."""
    runs: dict[str, list[Result]] = {name: [] for name in servers}
    for k in range(rounds):
        for name, server in servers.items():
            runs[name].append(dnsperf(server.port, paths[k % len(paths)], seconds, clients, pid=server.proc.pid))
    results = {name: median(rs) for name, rs in runs.items()}
    ours = results["skydns"]
    for name, r in results.items():
        note = "(no peer: the peers serve A records only)" if len(results) == 1 else ""
        if name != "skydns" and r.qps:
            note = f"{ours.qps / r.qps:.2f}x q/s, {ours.cpu_us / r.cpu_us:.2f}x CPU per answer"
            if rounds > 1:
                note += " (rounds: " + ", ".join(
                    f"{x.qps / y.qps:.2f}x/{x.cpu_us / y.cpu_us:.2f}x" for x, y in zip(runs["skydns"], runs[name])) + ")"
        print(f"{workload:<10} {name:<8} {r.qps:>9.0f} {r.mean_ms:>8.3f} {r.p99_ms:>8.3f} {r.lost:>6} "
              f"{r.cpu_us:>7.2f} {r.sys_us:>5.2f}  {note}", flush=True)


def case_variants(names: list[str], count: int, seed: int = 7) -> list[str]:
    """Distinct spellings of the same names (DNS names are case-blind): each
    is a new packet for skydns's packet cache but the same RRset for its
    signature cache."""
    import random
    rnd = random.Random(seed)
    seen, out = set(), []
    while len(out) < count:
        name = rnd.choice(names)
        spelled = "".join(c.upper() if rnd.random() < 0.5 else c for c in name)
        if spelled not in seen:
            seen.add(spelled)
            out.append(spelled)
    return out


def version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).splitlines()[0].strip()
    except Exception:  # noqa: BLE001
        return "unknown"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10, help="length of each timed run")
    p.add_argument("--records", type=int, default=1000, help="services (and as many pods)")
    p.add_argument("--workers", type=int, default=1, help="skydns processes (-workers)")
    p.add_argument("--clients", type=int, default=8, help="dnsperf clients")
    p.add_argument("--cold", type=int, default=100_000, help="distinct names in the cold workload")
    p.add_argument("--scale-keys", type=int, default=750_000,
                   help="keys for the start-up/memory figures (0: skip the scale part)")
    p.add_argument("--rounds", type=int, default=3,
                   help="timed runs per server and workload, taken in turns (the median is shown)")
    p.add_argument("--changes", type=int, default=200, help="changes timed for propagation (0: skip)")
    p.add_argument("--only", action="append", metavar="WORKLOAD",
                   help="run only this workload (hot-a, search-nx, srv, cold, signed, hosts-edit); repeatable")
    p.add_argument("--no-pin", action="store_true",
                   help="leave the servers and dnsperf where the scheduler puts them (pinned: servers on one CPU, "
                        "dnsperf on another)")
    p.add_argument("--edits", type=int, default=100, help="edits of the ConfigMap's hosts key timed (hosts-edit)")
    a = p.parse_args()
    global CLIENT_CPU
    if a.only and set(a.only) == {"hosts-edit"}:  # no dnsperf, no peers: its own etcd and processes
        from bench.hostsedit import report
        report(a.edits)
        return 0
    for tool in ("dnsperf", "etcd", "knotd"):
        if not shutil.which(tool) and not Path("/usr/sbin", tool).exists():
            sys.exit(f"{tool} is not installed: run `make setup`")

    from skydns import __version__
    print(f"machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), {platform.machine()}, "
          f"{platform.system()} {platform.release()}")
    print(f"python {platform.python_version()}, skydns-stack {__version__}, "
          f"{version(['dnsmasq', '--version'])}, {version(['/usr/sbin/knotd', '--version'])}, "
          f"{version(['etcd', '--version'])}, "
          f"{version(['sh', '-c', 'dnsperf -h 2>&1 | grep -i ^version'])}")
    work = Path(tempfile.mkdtemp(prefix="skydns-bench-"))
    opt = records.Options(domain=DOMAIN)
    # enough pods that half the cold names exist (the other half do not)
    # the cold workload asks, in each round, names asked in no other: half
    # of them pods (so that half exist), half names that do not exist
    cold_rounds = a.rounds
    services, eps, pods = objects(a.records, 100, 10, max(a.records, cold_rounds * a.cold // 2))
    tree = {k: v for unit in records.desired(services, eps, pods, opt).values() for k, v in unit.items()}
    etcd = Etcd("bench").start()
    procs = []
    try:
        t = time.monotonic()
        load(etcd.url, tree)
        print(f"loaded {len(tree)} keys ({a.records} services, 100 headless x 10 endpoints, "
              f"{len(pods)} pods) in {time.monotonic() - t:.1f}s; skydns -workers={a.workers}, "
              f"dnsperf -c {a.clients} -q 100, {a.seconds:g}s per timed run, {a.rounds} rounds in turns")
        hosts_file(tree, "skydns", work / "hosts")
        sky = Skydns(etcd.url, f"-domain={DOMAIN}", f"-workers={a.workers}", "-round-robin=false")
        procs.append(sky)
        dm = Dnsmasq(work / "hosts", DOMAIN)
        procs.append(dm)
        kn = Knot(work / "hosts", DOMAIN, work)
        procs.append(kn)
        names = [f"svc{i}.default.svc.cluster.local" for i in range(min(a.records, 1000))]
        search = [f"{n}.{s}" for n in names for s in ("default.svc.cluster.local", "svc.cluster.local",
                                                       "cluster.local")]
        files = {
            "hot-a": [f"{n} A" for n in names],
            "search-nx": [f"{n} A" for n in search],
            "srv": [f"_http._tcp.hl{h}.default.svc.cluster.local SRV" for h in range(100)],
        }
        cold = [[f"x{i}.r{r}.default.svc.cluster.local A" if i % 2 else f"{pod_name(r * a.cold // 2 + i // 2)} A"
                 for i in range(a.cold)] for r in range(cold_rounds)]
        key = None
        if shutil.which("dnssec-keygen"):
            key = subprocess.run(["dnssec-keygen", "-a", "ECDSAP256SHA256", "-n", "ZONE", "-K", str(work), DOMAIN],
                                 capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            signed = Skydns(etcd.url, f"-domain={DOMAIN}", f"-workers={a.workers}", "-round-robin=false",
                            f"-dnssec={work / key}")
            procs.append(signed)
            files["signed"] = [f"{v} A" for v in case_variants(names, min(a.cold, 100_000))]
        servers = {"skydns": sky, "dnsmasq": dm, "knot": kn}
        pinned = cpus() if a.workers == 1 and not a.no_pin else None
        if pinned is not None:
            for server in servers.values():
                pin(server.proc.pid, pinned[0])
            if key:
                pin(signed.proc.pid, pinned[0])
            CLIENT_CPU = pinned[1]
            print(f"servers on CPU {pinned[0]}, dnsperf on CPU {pinned[1]} (--no-pin: wherever the scheduler puts them)")
        print(f"\n{'workload':<10} {'server':<8} {'q/s':>9} {'mean ms':>8} {'p99 ms':>8} {'lost':>6} "
              f"{'CPU us/answer':>13}  skydns vs peer: q/s ratio, CPU-per-answer ratio\n"
              f"{'':<54} {'all':>7} {'sys':>5}")
        for workload, lines in [*files.items(), ("cold", cold)]:
            if a.only and workload not in a.only:
                continue
            sets = lines if workload == "cold" else [lines]
            paths = [work / f"{workload}-{k}.txt" for k in range(len(sets))]
            for path, names_set in zip(paths, sets):
                path.write_text("\n".join(names_set) + "\n")
            path = paths[0]
            if workload == "signed":
                r = dnsperf(signed.port, path, None, a.clients, dnssec=True, pid=signed.proc.pid)
                print(f"{workload:<10} {'skydns':<8} {r.qps:>9.0f} {r.mean_ms:>8.3f} {r.p99_ms:>8.3f} {r.lost:>6} "
                      f"{r.cpu_us:>7.2f} {r.sys_us:>5.2f}  (DO, ECDSA P-256, distinct spellings: warm signature cache, "
                      f"cold packet cache)", flush=True)
                continue
            both = {"skydns": sky} if workload == "srv" else servers
            compare(workload, paths, both, None if workload == "cold" else a.seconds, a.rounds, a.clients)
    finally:
        for proc in procs:
            proc.stop()
        etcd.cleanup()
    if a.changes:
        from bench.propagation import propagation
        p50, p99 = propagation(a.changes)
        print(f"\npropagation, a Service changed through the API -> kube2sky -> etcd -> skydns answer, "
              f"{a.changes} changes: p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
    if a.edits and (not a.only or "hosts-edit" in a.only):
        from bench.hostsedit import report
        print()
        report(a.edits)
    if a.scale_keys:
        from bench.scale import scale
        big = Etcd("scale").start()
        try:
            print("\nscale")
            for name, value in scale(big.url, work, a.scale_keys).items():
                print(f"  {name:<52} {value:>10,.1f}", flush=True)
        finally:
            big.cleanup()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
