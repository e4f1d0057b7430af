"""Several skydns processes answering on one port (SO_REUSEPORT).

One Python process answers on one core.  With ``-workers N`` the first
process (the parent) binds the port with SO_REUSEPORT, starts N-1 copies of
itself with ``--worker``, and the kernel spreads the questions over them.
Each worker keeps its own mirror of etcd (a watch each), so a store change
reaches every worker at once.  Workers send their query counters to the
parent every second on their stdout; the parent's /metrics adds them up.
The parent restarts a worker that dies (waiting longer after each quick
death, and as little as at first again after a healthy run), and stops them
all when it stops; a worker dies with its parent even when the parent is
killed outright (the kernel's parent-death signal), so no orphan keeps
answering from a mirror nobody supervises.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time

from .metrics import Metrics

log = logging.getLogger(__name__)

#: restart waits: the first, the longest, and the run after which a worker
#: counts as healthy (its next death waits FIRST again)
FIRST, MOST, HEALTHY = 0.5, 10.0, 30.0
#: the parent's PID, in each worker's environment
PARENT_ENV = "SKYDNS_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def restart_wait(last: float | None, ran_for: float) -> float:
    """The wait before restarting a worker that ran ``ran_for`` seconds,
    ``last`` being the wait before its previous start (None: none yet)."""
    if last is None or ran_for >= HEALTHY:
        return FIRST
    return min(last * 2, MOST)


def die_with_parent() -> None:
    """In a worker: have the kernel send SIGTERM when the parent dies, and
    exit at once if it is already gone (it died before the call)."""
    parent = int(os.environ.get(PARENT_ENV, "0") or 0)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("cannot ask for the parent-death signal: %s", os.strerror(ctypes.get_errno()))
    if parent and os.getppid() != parent:
        log.warning("parent %d is gone: exiting", parent)
        sys.exit(0)


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

    env = dict(os.environ, **{PARENT_ENV: str(os.getpid())})

    async def run_one(index: int) -> None:
        wait = None
        while True:
            started = time.monotonic()
            proc = subprocess.Popen([sys.executable, "-m", "skydns", *argv, "--worker"], stdout=subprocess.PIPE,
                                    env=env)
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
            wait = restart_wait(wait, time.monotonic() - started)
            log.warning("worker %d (pid %d) exited with %s; restarting in %.1fs", index, proc.pid, code, wait)
            await asyncio.sleep(wait)

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
