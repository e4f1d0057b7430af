"""Several skydns processes answering on one port (SO_REUSEPORT).

One Python process answers on one core.  With ``-workers N`` the first
process (the parent) binds the port with SO_REUSEPORT, starts N-1 copies of
itself with ``--worker``, and the kernel spreads the questions over them.
Each worker keeps its own mirror of etcd (a watch each), so a store change
reaches every worker at once.  Workers send their query counters to the
parent every second on their stdout; the parent's /metrics adds them up.
The parent restarts a worker that dies, and stops them all when it stops.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys

from .metrics import Metrics

log = logging.getLogger(__name__)


def default_count() -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup
    v2 CPU quota when there is one (a pod's CPU limit)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()
        if quota != "max":
            cores = min(cores, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


async def report(metrics: Metrics, every: float = 1.0) -> None:
    """In a worker: send the counters to the parent."""
    while True:
        await asyncio.sleep(every)
        sys.stdout.write(json.dumps(metrics.hot.snapshot()) + "\n")
        sys.stdout.flush()


async def supervise(argv: list[str], count: int, metrics: Metrics) -> None:
    """In the parent: run count-1 workers, restarting any that exits.

    Workers are started with subprocess.Popen, which on Linux spawns with
    vfork and runs no fork handlers: the event loop's own fork-based spawn
    runs them, and gRPC's (the etcd client) can crash the child between
    fork and exec."""
    loop = asyncio.get_running_loop()
    procs: dict[int, subprocess.Popen] = {}

    async def run_one(index: int) -> None:
        delay = 0.5
        while True:
            proc = subprocess.Popen([sys.executable, "-m", "skydns", *argv, "--worker"], stdout=subprocess.PIPE)
            procs[index] = proc
            log.info("worker %d started (pid %d)", index, proc.pid)
            assert proc.stdout is not None
            reader = asyncio.StreamReader()
            transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), proc.stdout)
            try:
                while line := await reader.readline():
                    try:
                        metrics.hot.workers[index] = json.loads(line)
                    except ValueError:
                        pass
            finally:
                transport.close()
            code = await loop.run_in_executor(None, proc.wait)
            log.warning("worker %d (pid %d) exited with %s; restarting", index, proc.pid, code)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)

    tasks = [asyncio.create_task(run_one(i)) for i in range(1, count)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
