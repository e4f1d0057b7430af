"""The C servers skydns is measured against, and the CPU each one spends.

dnsmasq (what users ran beside kube-dns) serves the names from a hosts
file; Knot DNS (authoritative, C) serves the same names from a zone file and
stands for what this hardware allows.  Both listen on 127.0.0.1 only and
stop by PID.  ``cpu_times`` reads a server's own CPU time (user and system,
its threads and child processes included) from /proc, which stays
meaningful when the client, not the server, is the ceiling; ``pin`` keeps
a server on one CPU and the client on another.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests import procs
from tests.procs import free_port, stop

TICK = os.sysconf("SC_CLK_TCK")


def _family(pid: int) -> tuple[list[int], list[int]]:
    """(a process and all its descendants, the thread IDs of all of them)."""
    procs: list[int] = []
    threads: list[int] = []
    todo, seen = [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            tasks = [int(t) for t in os.listdir(f"/proc/{p}/task")]
            for task in tasks:
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
        procs.append(p)
        threads.extend(tasks)
    return procs, threads


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process and all its descendants (a
    process's /proc/PID/stat counts all its threads)."""
    user = system = 0.0
    for proc in _family(pid)[0]:
        try:
            with open(f"/proc/{proc}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            user += int(fields[11]) / TICK
            system += int(fields[12]) / TICK
        except (OSError, ValueError, IndexError):
            continue
    return user, system


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants, in seconds."""
    return sum(cpu_times(pid))


def cpus() -> tuple[int, int] | None:
    """(the servers' CPU, the client's CPU) when this process may use two or
    more; None on one."""
    mine = sorted(os.sched_getaffinity(0))
    return (mine[0], mine[1]) if len(mine) >= 2 else None


def pin(pid: int, cpu: int) -> None:
    """Keep a server (every thread, its children's too) on one CPU: the
    servers measured in turn then run where the others ran, and the client
    never shares their core, so CPU per answer does not depend on where the
    scheduler happened to put them (figures otherwise fall in two groups,
    ~30% apart, on this 2-core machine)."""
    for task in _family(pid)[1]:
        try:
            os.sched_setaffinity(task, {cpu})
        except OSError:
            continue


def hosts_lines(hosts: Path) -> list[tuple[str, str]]:
    return [tuple(line.split()) for line in hosts.read_text().splitlines() if line.strip()]


class Dnsmasq(procs.Dnsmasq):
    """The tests' dnsmasq serving the bench's hosts file, with a 10,000-entry
    cache and no per-query log (its CPU is what is measured)."""

    name = "dnsmasq"

    def __init__(self, hosts: Path, domain: str) -> None:
        super().__init__(hosts_path=hosts, zone=domain.strip("."), cache_size=10000, log_queries=False)

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Knot:
    """knotd with one UDP worker (skydns runs -workers=1; dnsperf has the
    other core), serving the hosts file's names as a zone."""

    name = "knot"

    def __init__(self, hosts: Path, domain: str, work: Path) -> None:
        zone = domain.rstrip(".")
        self.dir = work / "knot"
        self.dir.mkdir(exist_ok=True)
        self.port = free_port()
        lines = [f"$ORIGIN {zone}.", "$TTL 30",
                 f"@ SOA ns.dns.{zone}. hostmaster.{zone}. 1 28800 7200 604800 30", f"@ NS ns.dns.{zone}.",
                 "ns.dns A 127.0.0.1"]
        lines += [f"{name}. A {ip}" if ":" not in ip else f"{name}. AAAA {ip}" for ip, name in hosts_lines(hosts)]
        (self.dir / f"{zone}.zone").write_text("\n".join(lines) + "\n")
        conf = self.dir / "knot.conf"
        conf.write_text(
            f"server:\n  listen: 127.0.0.1@{self.port}\n  rundir: {self.dir}\n  user: root:root\n"
            f"  udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n"
            f"database:\n  storage: {self.dir}\n"
            f"log:\n  - target: stderr\n    any: error\n"
            f"zone:\n  - domain: {zone}.\n    storage: {self.dir}\n    file: {zone}.zone\n"
            f"    semantic-checks: off\n    zonefile-sync: -1\n    journal-content: none\n")
        binary = shutil.which("knotd") or "/usr/sbin/knotd"
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        try:
            self._wait(zone)
        except BaseException:
            self.stop()  # a knotd that never loaded its zone is not left running
            raise

    def _wait(self, zone: str) -> None:
        from tests.dnsq import ask
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if ask(self.port, f"ns.dns.{zone}.", "A", timeout=0.5).answer:
                    return
            except Exception:  # noqa: BLE001 - not up yet
                pass
            time.sleep(0.2)
        raise RuntimeError("knotd did not load its zone")

    def stop(self) -> None:
        stop(self.proc)
