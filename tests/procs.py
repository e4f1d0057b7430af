"""Processes the tests start: a real etcd, and our own servers.

Every process listens on loopback only, is started with its own temporary
directory, and is stopped by its own PID.  A missing binary is an error,
never a skip: CI installs etcd, and a test that skipped would hide that.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SKYDNS_SHARED", REPO.parent / "shared"))


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1."""
    for _ in range(100):
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, want: int = 200) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == want:
                    return
                last = r.status
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer {want} within {timeout}s (last: {last})")


def wait_until(fn, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``fn`` until it is true, or fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def wait_port(port: int, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            time.sleep(0.5)
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open within {timeout}s")


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


class Etcd:
    """One etcd member on free loopback ports with a throw-away data dir."""

    def __init__(self, name: str = "test", tls: dict | None = None) -> None:
        self.tls = tls
        binary = shutil.which("etcd")
        if binary is None:
            raise RuntimeError("etcd is not installed: run `make setup` (Debian package etcd-server)")
        self.binary = binary
        self.name = name
        self.client_port = free_port()
        self.peer_port = free_port()
        self.dir = tempfile.mkdtemp(prefix="skydns-etcd-")
        self.proc: subprocess.Popen | None = None
        #: the members of a multi-member cluster (name=peer URL, ...); None for one member
        self.initial_cluster: str | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.client_port}"

    def start(self, timeout: float = 20) -> "Etcd":
        peer = f"http://127.0.0.1:{self.peer_port}"
        cmd = [
            self.binary, "--name", self.name, "--data-dir", os.path.join(self.dir, "data"),
            "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", self.initial_cluster or f"{self.name}={peer}", "--initial-cluster-state", "new",
            "--log-level", "warn", "--enable-v2=true",
        ]
        if self.tls:
            cmd += ["--cert-file", self.tls["server_cert"], "--key-file", self.tls["server_key"],
                    "--trusted-ca-file", self.tls["ca"], "--client-cert-auth"]
        self.log = open(os.path.join(self.dir, "etcd.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            if self.tls:
                wait_port(self.client_port, timeout, self.proc)
            else:
                wait_http(self.url + "/health", timeout, self.proc)
        except BaseException:
            self.stop()  # a member that never answered is not left running
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.log.close()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Process:
    """A Python console entry point of ours, run as a child process."""

    def __init__(self, module: str, args: list[str], env: dict | None = None) -> None:
        self.dir = tempfile.mkdtemp(prefix=f"{module}-")
        self.logpath = os.path.join(self.dir, "log")
        self.log = open(self.logpath, "ab")
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        self.proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=full_env,
                                     start_new_session=True, cwd=REPO)

    def wait_ready(self, timeout: float = 30) -> None:
        """Until /readiness on the process's health port says 200; a process
        that never gets there is stopped before the failure is raised."""
        try:
            wait_http(f"http://127.0.0.1:{self.http_port}/readiness", timeout, self.proc)
        except BaseException:
            print(self.output())
            self.stop()
            raise

    def http(self, path: str) -> tuple[int, str]:
        """GET ``path`` on the process's health/metrics port: (status, body)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """/metrics, parsed: {(sample name, sorted labels): value}."""
        status, text = self.http("/metrics")
        assert status == 200, (status, text)
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for fam in text_string_to_metric_families(text) for s in fam.samples}

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels`` (0 when there are none)."""
        return sum(value for (sample, have), value in self.metrics().items()
                   if sample == name and labels.items() <= dict(have).items())

    def output(self) -> str:
        self.log.flush()
        return Path(self.logpath).read_text(errors="replace")

    def stop(self) -> None:
        stop(self.proc)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Skydns(Process):
    """skydns started as users start it: a process with flags."""

    def __init__(self, etcd_url: str, *args: str, env: dict | None = None, wait_ready: bool = True) -> None:
        self.port = free_port()
        self.http_port = free_port()
        flags = [f"-machines={etcd_url}", "-addr", f"127.0.0.1:{self.port}",
                 f"-health-addr=127.0.0.1:{self.http_port}", *args]
        if not any(a.lstrip("-").startswith("workers") for a in args):
            flags.append("-workers=1")  # one process, so per-process caches and counters are exact
        if not any(a.lstrip("-").startswith("nameservers") for a in args):
            # never forward anywhere but loopback: a closed local port fails fast
            flags.append(f"-nameservers=127.0.0.1:{free_port()}")
        super().__init__("skydns", flags, env=env)
        if wait_ready:
            self.wait_ready()


class Kube2sky(Process):
    """kube2sky run as a process against the fake API server and etcd."""

    def __init__(self, api_url: str, etcd_url: str, *args: str) -> None:
        self.http_port = free_port()
        flags = [f"-kube_master_url={api_url}", f"-etcd-server={etcd_url}",
                 f"--healthz-port={self.http_port}", "--healthz-bind-address=127.0.0.1", *args]
        super().__init__("kube2sky", flags)

    @classmethod
    def for_prefix(cls, prefix: str, api_url: str, etcd_url: str, *args: str, ready: bool = True) -> "Kube2sky":
        """kube2sky as the process tests run it: records under ``/prefix`` for
        cluster.local, a 3 s leader lease (later ``args`` override), ready unless told."""
        k = cls(api_url, etcd_url, f"--path-prefix={prefix}", "--domain=cluster.local", "--lease-ttl=3", *args)
        if ready:
            k.wait_ready()
        return k

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/readiness", timeout=1) as r:
                return r.status == 200
        except Exception:  # noqa: BLE001
            return False



class Dnsmasq:
    """dnsmasq from Debian as a loopback upstream: answers from a hosts file,
    NXDOMAIN for the rest of ``zone``, and logs every query it gets."""

    def __init__(self, hosts: dict[str, str] | None = None, ttl: int = 30, zone: str = "example.com", *,
                 hosts_path: str | Path | None = None, cache_size: int | None = None,
                 log_queries: bool = True) -> None:
        """``hosts`` (name: ip) is written to a hosts file of its own, or
        ``hosts_path`` is served as it is; ``cache_size`` None keeps dnsmasq's
        default; ``log_queries`` False leaves out the per-query log (the bench
        measures dnsmasq's CPU, and ``queries`` then counts nothing)."""
        binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not os.path.exists(binary):
            raise RuntimeError("dnsmasq is not installed: run `make setup`")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="dnsmasq-")
        hostfile = str(hosts_path) if hosts_path is not None else os.path.join(self.dir, "hosts")
        if hosts_path is None:
            with open(hostfile, "w") as f:
                for name, ip in (hosts or {}).items():
                    f.write(f"{ip} {name}\n")
        self.logpath = os.path.join(self.dir, "log")
        cmd = [binary, "--keep-in-foreground", "--no-resolv", "--no-hosts", f"--addn-hosts={hostfile}",
               f"--port={self.port}", "--listen-address=127.0.0.1", "--bind-interfaces", "--interface=lo",
               f"--local-ttl={ttl}", f"--log-facility={self.logpath}", f"--local=/{zone}/",
               "--pid-file=", "--user=root", "--group=root"]
        if log_queries:
            cmd.append("--log-queries")
        if cache_size is not None:
            cmd.append(f"--cache-size={cache_size}")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 10
        while not (os.path.exists(self.logpath) and "started" in Path(self.logpath).read_text()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.cleanup()  # never left running when it did not come up
                raise RuntimeError(f"dnsmasq did not start ({self.proc.poll()})")
            time.sleep(0.05)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def queries(self, name: str) -> int:
        """How many questions about ``name`` it has been asked."""
        text = Path(self.logpath).read_text(errors="replace")
        return sum(1 for line in text.splitlines() if "query[" in line and f"] {name} from" in line)

    def stop(self) -> None:
        stop(self.proc)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
