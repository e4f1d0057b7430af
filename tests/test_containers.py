"""The containers for real: the images built (scripts/build-images on the
local debootstrap base, no network inside a build), the seed's kube-dns pod
run by podman with the legacy manifest's own commands, a pod's resolver
getting answers, restarts, `podman kube play` of the modern manifests and
docker-compose.yml brought up by podman-compose.

Everything runs in podman's private storage under a temporary directory,
with a private containers.conf (runc, ulimits this machine grants, its own
network config), and is removed at the end.  Every podman command runs in a
network namespace the test makes: the legacy pod has no network but its
own loopback (`--network none`), like a Kubernetes pod's shared localhost;
the bridges that `kube play` and podman-compose make stay inside that
namespace.  podman missing is an error, never a skip: `make setup`
installs it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import yaml

# builds images and starts containers (podman, runc, etcd, skydns, kube2sky, dig)
pytestmark = [pytest.mark.process, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
CLIENT = Path(__file__).resolve().parent / "containers" / "client.py"
LEGACY = REPO / "manifests" / "legacy" / "kube-dns-rc.yaml"
MODERN = REPO / "manifests" / "modern"
COMPOSE = REPO / "docker-compose.yml"
BASE = "localhost/skydns-base:bookworm"
STACK = "localhost/skydns-stack:latest"
ETCD = "localhost/skydns-etcd:latest"
SEARCH = "default.svc.cluster.local svc.cluster.local cluster.local"
#: a custom host, from the `hosts` key of the kube-dns ConfigMap (kube2sky's
#: --config-dir: a mounted copy of it); served as registry.cluster.local
CUSTOM = ("registry", "10.0.9.9")
#: kube2sky's flags for a source the pods here have not got (an API server),
#: switched to mounted files: the cluster file and the ConfigMap's copy
API_FLAGS = ("--kube_master_url=", "--config-map=", "--config-map-namespace=")
FILE_FLAGS = ["--from-file=/cluster/cluster.yaml", "--config-dir=/etc/kube-dns-config"]


def _limit(kind: int) -> int:
    """A ulimit the runtime can set here: no more than this machine's hard
    limit (root has no CAP_SYS_RESOURCE here), and no more than podman's
    own processes get (conmon runs with nproc 32768)."""
    hard = resource.getrlimit(kind)[1]
    return 16384 if hard == resource.RLIM_INFINITY else min(hard, 16384)


class Podman:
    """podman with private storage, runtime and network configuration."""

    def __init__(self) -> None:
        self.binary = shutil.which("podman")
        if self.binary is None:
            raise RuntimeError("podman is not installed: run `make setup` (Debian packages podman runc)")
        self.dir = Path(tempfile.mkdtemp(prefix="skydns-podman-"))
        self.dir.chmod(0o755)
        for sub in ("root", "run", "tmp", "networks"):
            (self.dir / sub).mkdir()
        # names the manifests and the compose file use for other pods, as a
        # cluster's DNS would have them (used by `kube play`, see below)
        (self.dir / "hosts").write_text("127.0.0.1 localhost\n127.0.0.1 kube-dns-etcd.kube-system.svc\n")
        nofile, nproc = _limit(resource.RLIMIT_NOFILE), _limit(resource.RLIMIT_NPROC)
        (self.dir / "containers.conf").write_text(f"""\
[containers]
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]
base_hosts_file = "{self.dir}/hosts"
[network]
network_config_dir = "{self.dir}/networks"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{self.dir}/tmp"
""")
        (self.dir / "storage.conf").write_text(f"""\
[storage]
driver = "overlay"
graphroot = "{self.dir}/root"
runroot = "{self.dir}/run"
""")
        self.env = dict(os.environ, CONTAINERS_CONF=str(self.dir / "containers.conf"),
                        CONTAINERS_STORAGE_CONF=str(self.dir / "storage.conf"))
        # every podman command runs in a network namespace of the test's own:
        # the bridges, addresses and port forwards that `kube play` and
        # podman-compose make live there, never in the machine's
        self.netns = f"skydns-test-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)
        self.nsenter = ["nsenter", f"--net=/run/netns/{self.netns}"]

    def run(self, *args: str, check: bool = True, timeout: float = 120, tool: str | None = None) -> subprocess.CompletedProcess:
        out = subprocess.run([*self.nsenter, tool or self.binary, *args], capture_output=True, text=True,
                             timeout=timeout, env=self.env, stdin=subprocess.DEVNULL)
        if check and out.returncode != 0:
            raise AssertionError(f"{tool or 'podman'} {' '.join(args)} -> {out.returncode}\n{out.stdout}\n{out.stderr}")
        return out

    def __call__(self, *args: str, **kw) -> str:
        return self.run(*args, **kw).stdout.strip()

    def cleanup(self) -> None:
        for args in (("pod", "rm", "--all", "--force", "--time", "0"), ("rm", "--all", "--force", "--time", "0"),
                     ("volume", "rm", "--all", "--force"), ("system", "reset", "--force")):
            self.run(*args, check=False, timeout=300)
        subprocess.run(["umount", "-R", str(self.dir / "root" / "overlay")], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def bridge_lock():
    """Held while a bridge network exists: netavark keeps its IPAM database
    and aardvark-dns (one process, serving every network with DNS) in
    /run/containers/networks whatever the storage, so two runs of these
    tests on one machine (two checkouts) would share them across network
    namespaces.  They take turns."""
    with open(os.path.join(tempfile.gettempdir(), "skydns-stack-podman-bridge.lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def report(request):
    """Lines for the terminal, written when the module ends (pytest's
    capture would hide a print): image sizes, start-to-ready times, and the
    whole module's run time."""
    lines: list[str] = []
    start = time.monotonic()
    yield lines.append
    lines.append(f"container tests: {time.monotonic() - start:.0f}s in all (images, pods, compose, clean-up)")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + "\n".join(lines))


@pytest.fixture(scope="module")
def podman(report):
    p = Podman()
    yield p
    p.cleanup()


@pytest.fixture(scope="module")
def images(podman, report):
    """The two images, built by the same script as `make image`; the
    manifests' and compose file's image names point at them."""
    start = time.monotonic()
    env = dict(podman.env, PYTHON=sys.executable, ENGINE="podman")
    out = subprocess.run([str(REPO / "scripts" / "build-images")], capture_output=True, text=True,
                         timeout=1200, env=env, cwd=REPO, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.split() == [STACK, ETCD]
    built = time.monotonic() - start
    sizes = {img: int(podman("image", "inspect", "--format", "{{.Size}}", img)) for img in (BASE, STACK, ETCD)}
    report(f"images built in {built:.1f}s: " + ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in sizes.items()))
    # what users would pull, named as the manifests and the compose file name it
    for name, img in (("quay.io/coreos/etcd:v3.4.34", ETCD), ("localhost/skydns-stack:0.1.0", STACK)):
        podman("tag", img, name)
    return sizes


def test_images_are_what_the_issue_asks(podman, images):
    stack = json.loads(podman("image", "inspect", STACK))[0]["Config"]
    assert stack["User"] == "10001:10001"
    out = podman("run", "--rm", "--network", "none", STACK, "sh", "-c",
                 'getcap "$(readlink -f "$(command -v python3)")"; id -u; for p in skydns kube2sky skydnsctl; do command -v $p; done;'
                 " python3 -c 'import skydns, skydns_common, skydnsctl, kube2sky'").splitlines()
    assert out[0] == "/opt/skydns/bin/python3 cap_net_bind_service=ep", out
    assert out[1:] == ["10001", "/opt/skydns/bin/skydns", "/opt/skydns/bin/kube2sky", "/opt/skydns/bin/skydnsctl"]
    # only the venv's interpreter has the capability: not the system's
    assert podman("run", "--rm", "--network", "none", STACK, "sh", "-c",
                  "getcap /usr/bin/python3.11; echo end") == "end"
    # the per-question path runs compiled (mypyc, from the wheel built outside) and UDP in batches
    native = podman("run", "--rm", "--network", "none", STACK, "python3", "-c",
                    "import skydns.handler, skydns.transport as t, skydns_common.native as n;"
                    " print(n.running_compiled(), repr(n.reason), t.batch_module() is not None)")
    assert native == "True '' True", native
    etcd = podman("run", "--rm", "--network", "none", ETCD, "sh", "-c",
                  "id -u; readlink -f /usr/local/bin/etcd; /usr/local/bin/etcd --version | head -n1").splitlines()
    assert etcd[:2] == ["10001", "/usr/bin/etcd"] and etcd[2].startswith("etcd Version: 3."), etcd


# -- the seed's kube-dns pod -------------------------------------------------


def manifest_commands() -> dict[str, list[str]]:
    rc = yaml.safe_load(LEGACY.read_text())
    return {c["name"]: c["command"] + c.get("args", []) for c in rc["spec"]["template"]["spec"]["containers"]}


def legacy_containers() -> dict[str, dict]:
    rc = yaml.safe_load(LEGACY.read_text())
    return {c["name"]: c for c in rc["spec"]["template"]["spec"]["containers"]}


class Pod:
    """A pod of containers sharing one loopback, and a client in it."""

    def __init__(self, podman: Podman, name: str) -> None:
        self.podman = podman
        self.name = f"{name}-{uuid.uuid4().hex[:6]}"
        self.dir = podman.dir / self.name
        self.dir.mkdir()
        (self.dir / "resolv.conf").write_text(f"search {SEARCH}\noptions ndots:5\nnameserver 127.0.0.1\n")
        shutil.copy(CLIENT, self.dir / "client.py")
        for f in self.dir.iterdir():
            f.chmod(0o644)
        self.dir.chmod(0o755)

    def create(self) -> "Pod":
        self.podman("pod", "create", "--network", "none", "--name", self.name)
        return self

    def ctr(self, name: str) -> str:
        return f"{self.name}-{name}"

    def client(self, *ops: str, timeout: float = 120) -> dict:
        """A container of the pod with a pod's resolv.conf asks (client.py)."""
        out = self.podman("run", "--rm", "--pod", self.name, "--pull", "never",
                          "-v", f"{self.dir}/resolv.conf:/etc/resolv.conf:ro",
                          "-v", f"{self.dir}/client.py:/client.py:ro",
                          BASE, "python3", "/client.py", *ops, timeout=timeout)
        return json.loads(out.splitlines()[-1])

    def logs(self) -> str:
        out = []
        for c in self.podman("ps", "-a", "--pod", "--filter", f"pod={self.name}", "--format", "{{.Names}}").split():
            out.append(f"--- {c}\n" + self.podman.run("logs", "--tail", "40", c, check=False).stdout
                       + self.podman.run("logs", "--tail", "40", c, check=False).stderr)
        return "\n".join(out)

    def status(self, name: str) -> dict:
        """The Uid and capability lines of the container's first process."""
        text = self.podman("exec", self.ctr(name), "cat", "/proc/1/status")
        return {k: v.split() for k, v in (line.split(":", 1) for line in text.splitlines())
                if k in ("Uid", "CapInh", "CapPrm", "CapEff", "CapAmb", "NoNewPrivs")}

    def remove(self) -> None:
        self.podman.run("pod", "rm", "--force", "--time", "0", self.name, check=False)


def replace(path: Path, text: str) -> None:
    """Write a mounted file as a whole (rename), readable by uid 10001."""
    new = path.with_name(path.name + ".new")
    new.write_text(text)
    new.chmod(0o644)
    os.replace(new, path)


def mounted_files(where: Path) -> tuple[Path, Path]:
    """The cluster file (examples/cluster.yaml) and the ConfigMap's copy
    with the custom host, each in a directory to mount."""
    cluster, config = where / "cluster", where / "kube-dns-config"
    for d in (where, cluster, config):
        d.mkdir(exist_ok=True)
        d.chmod(0o755)
    replace(cluster / "cluster.yaml", (REPO / "examples" / "cluster.yaml").read_text())
    replace(config / "hosts", f"{CUSTOM[1]} {CUSTOM[0]}\n")
    return cluster, config


def wait_answers(pod: Pod, ops: list[str], want: dict, limit: float = 30) -> float:
    start = time.monotonic()
    while True:
        got = pod.client(*ops)
        if got == want:
            return time.monotonic() - start
        if time.monotonic() - start > limit:
            raise AssertionError(f"still {got}\nwant {want}\n{pod.logs()}")
        time.sleep(0.5)


NAMES = ["hosts", "web", "hosts", "db", "hosts", "db-0.db", "hosts", CUSTOM[0],
         "srv", "_http._tcp.web.default.svc.cluster.local", "srv", "_pg._tcp.db.default.svc.cluster.local"]
ANSWERS = {"hosts web": ["10.0.0.10"], "hosts db": ["10.1.0.1", "10.1.0.2"], "hosts db-0.db": ["10.1.0.1"],
           f"hosts {CUSTOM[0]}": [CUSTOM[1]],
           "srv _http._tcp.web.default.svc.cluster.local": ["10 100 80 web.default.svc.cluster.local."],
           "srv _pg._tcp.db.default.svc.cluster.local": ["10 50 5432 db-0.db.default.svc.cluster.local.",
                                                         "10 50 5432 db-1.db.default.svc.cluster.local."]}


def test_legacy_pod(podman, images, report):
    """The kube-dns-v9 pod: etcd, kube2sky and skydns with the manifest's
    commands, a client with a pod's resolv.conf, restarts."""
    spec = legacy_containers()
    cmds = manifest_commands()
    # kube2sky's source: the cluster file and the ConfigMap's copy mounted
    # into the pod instead of the seed's master
    k2s = [a for a in cmds["kube2sky"] if not a.startswith(API_FLAGS)]
    assert len(k2s) == len(cmds["kube2sky"]) - len(API_FLAGS)
    k2s += FILE_FLAGS

    pod = Pod(podman, "kube-dns-v9").create()
    cluster, config = mounted_files(pod.dir)
    volume = f"{pod.name}-etcd-storage"  # the emptyDir
    podman("volume", "create", volume)
    mount = spec["etcd"]["volumeMounts"][0]["mountPath"]

    def start(name: str, command: list[str], *opts: str) -> None:
        podman("run", "-d", "--pod", pod.name, "--name", pod.ctr(name), "--pull", "never", *opts,
               "--entrypoint", command[0], spec[name]["image"], *command[1:])

    try:
        t0 = time.monotonic()
        start("etcd", cmds["etcd"], "-v", f"{volume}:{mount}")
        start("kube2sky", k2s, "-v", f"{cluster}:/cluster:ro", "-v", f"{config}:/etc/kube-dns-config:ro")
        start("skydns", cmds["skydns"])
        ready = pod.client("ready", "http://127.0.0.1:8080/readiness,http://127.0.0.1:8081/readiness")
        assert isinstance(ready["ready http://127.0.0.1:8080/readiness,http://127.0.0.1:8081/readiness"], float), \
            f"{ready}\n{pod.logs()}"
        start_to_ready = time.monotonic() - t0
        report(f"legacy pod: start to ready {start_to_ready:.1f}s (three containers, both /readiness 200)")

        # each container runs as uid 10001, with no capability handed to it:
        # skydns's port 53 comes from the file capability of the venv's python
        for name in ("etcd", "kube2sky", "skydns"):
            inspect = json.loads(podman("inspect", pod.ctr(name)))[0]
            assert inspect["HostConfig"]["CapAdd"] in (None, []), inspect["HostConfig"]["CapAdd"]
            st = pod.status(name)
            assert st["Uid"] == ["10001"] * 4, (name, st)
            assert int(st["CapAmb"][0], 16) == 0 and int(st["CapInh"][0], 16) == 0, (name, st)
        assert int(pod.status("skydns")["CapEff"][0], 16) == 1 << 10  # CAP_NET_BIND_SERVICE alone
        assert int(pod.status("etcd")["CapEff"][0], 16) == 0

        got = pod.client("listening", "53", "listening", "8080", "listening", "8081", "listening", "4001")
        assert got == {"listening 53": ["tcp", "udp"], "listening 8080": ["tcp"], "listening 8081": ["tcp"],
                       "listening 4001": ["tcp"]}, got
        wait_answers(pod, NAMES, ANSWERS)
        # --legacy-names from the manifest: <svc>.<ns>.<domain> too
        assert pod.client("a", "web.default.cluster.local") == {"a web.default.cluster.local": ["10.0.0.10"]}
        before = pod.client("keys", "/skydns/")["keys /skydns/"]
        assert any(k.startswith("/skydns/local/cluster/registry") for k in before) and len(before) > 10, before

        # the cluster file and the ConfigMap change: the pod's resolver follows
        text = (cluster / "cluster.yaml").read_text()
        assert "clusterIP: 10.0.0.10" in text
        replace(cluster / "cluster.yaml", text.replace("clusterIP: 10.0.0.10", "clusterIP: 10.0.0.11"))
        replace(config / "hosts", f"10.0.9.10 {CUSTOM[0]}\n")
        wait_answers(pod, ["hosts", "web", "hosts", CUSTOM[0]],
                     {"hosts web": ["10.0.0.11"], f"hosts {CUSTOM[0]}": ["10.0.9.10"]})
        replace(cluster / "cluster.yaml", text)
        replace(config / "hosts", f"{CUSTOM[1]} {CUSTOM[0]}\n")
        wait_answers(pod, NAMES, ANSWERS)

        # skydns killed: no answers; started again: answers, etcd's data as it was
        podman("kill", pod.ctr("skydns"))
        podman("wait", pod.ctr("skydns"))  # until it is gone
        assert pod.client("a", "web.default.svc.cluster.local") == {"a web.default.svc.cluster.local": None}
        t1 = time.monotonic()
        podman("start", pod.ctr("skydns"))
        again = pod.client("ready", "http://127.0.0.1:8080/readiness")
        assert isinstance(again["ready http://127.0.0.1:8080/readiness"], float), f"{again}\n{pod.logs()}"
        report(f"legacy pod: skydns killed and started again: ready in {time.monotonic() - t1:.1f}s")
        wait_answers(pod, NAMES, ANSWERS, limit=10)
        assert pod.client("keys", "/skydns/")["keys /skydns/"] == before

        # etcd killed: skydns answers from its mirror
        podman("kill", pod.ctr("etcd"))
        podman("wait", pod.ctr("etcd"))
        assert podman("inspect", "--format", "{{.State.Running}}", pod.ctr("etcd")) == "false"
        assert pod.client(*NAMES) == ANSWERS
        assert podman("inspect", "--format", "{{.State.Running}}", pod.ctr("skydns")) == "true"

        # etcd back on its volume (the emptyDir outlives a container restart): the same tree
        podman("start", pod.ctr("etcd"))
        assert isinstance(pod.client("ready", "http://127.0.0.1:2379/health")["ready http://127.0.0.1:2379/health"], float)
        assert pod.client("keys", "/skydns/")["keys /skydns/"] == before
    except AssertionError:
        print(pod.logs())
        raise
    finally:
        pod.remove()
        podman.run("volume", "rm", "--force", volume, check=False)


# -- manifests/modern/ played by podman ----------------------------------------


def played_copies(cluster_dir: Path, config_dir: Path) -> tuple[list[dict], dict]:
    """What `podman kube play` (4.3) can be given of manifests/modern/.

    It plays Pod, Deployment and PersistentVolumeClaim and nothing else:
    rbac.yaml (ServiceAccount, ClusterRole, ClusterRoleBinding) and the
    Services, the PodDisruptionBudget and the StatefulSet are refused or
    ignored.  So the StatefulSet's pod template is played as its pod
    `kube-dns-etcd-0`, with its volumeClaimTemplate as a PVC; the Service
    name `kube-dns-etcd.kube-system.svc` is given to the pods through the
    hosts file (containers.conf's base_hosts_file), as cluster DNS would
    answer it.  The Deployment is played as written except for: the
    containerPorts (podman publishes each on the same port of the host, so
    two replicas collide on port 53, which Kubernetes never does), `$(POD_NAME)`
    in args (podman does not expand it: both replicas would have the one id
    "$(POD_NAME)"; kube2sky's default id, hostname-pid, is unique), env
    from the downward API's `status.podIP` (podman refuses the pod: "fieldPath
    status.podIP is either not valid or not supported"; nothing uses it
    unless the user adds --healthz-bind-address=$(POD_IP)), and
    kube2sky's sources, switched to the cluster file and the ConfigMap's
    copy as in the legacy pod (no API server here).
    """
    sts = next(d for d in yaml.safe_load_all((MODERN / "etcd.yaml").read_text()) if d["kind"] == "StatefulSet")
    name = sts["metadata"]["name"]
    docs, claims = [], []
    for t in sts["spec"]["volumeClaimTemplates"]:
        claim = f"{t['metadata']['name']}-{name}-0"
        docs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim},
                     "spec": t["spec"]})
        claims.append({"name": t["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim}})
    template = sts["spec"]["template"]
    template["spec"].setdefault("volumes", []).extend(claims)
    docs.append({"apiVersion": "v1", "kind": "Pod", "metadata": {**template["metadata"], "name": f"{name}-0",
                                                                  "namespace": sts["metadata"]["namespace"]},
                 "spec": template["spec"]})
    dep = next(d for d in yaml.safe_load_all((MODERN / "kube-dns.yaml").read_text()) if d["kind"] == "Deployment")
    for c in dep["spec"]["template"]["spec"]["containers"]:
        c.pop("ports", None)
        c["args"] = [a for a in c.get("args", []) if "$(" not in a]
        c["env"] = [e for e in c.get("env", [])
                    if not e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath", "").startswith("status.")]
        if c["name"] == "kube2sky":
            kept = [a for a in c["command"] if not a.startswith(API_FLAGS)]
            assert len(c["command"]) - len(kept) == 2  # --config-map, --config-map-namespace
            c["command"] = kept + FILE_FLAGS
            c.setdefault("volumeMounts", []).extend([
                {"name": "cluster", "mountPath": "/cluster", "readOnly": True},
                {"name": "kube-dns-config", "mountPath": "/etc/kube-dns-config", "readOnly": True}])
    dep["spec"]["template"]["spec"].setdefault("volumes", []).extend([
        {"name": "cluster", "hostPath": {"path": str(cluster_dir), "type": "Directory"}},
        {"name": "kube-dns-config", "hostPath": {"path": str(config_dir), "type": "Directory"}}])
    return docs, dep


def test_modern_manifests_played(podman, images, report):
    # what podman refuses outright
    for f in ("rbac.yaml", "etcd.yaml"):
        out = podman.run("kube", "play", "--start=false", str(MODERN / f), check=False)
        assert out.returncode != 0 and "does not contain any supported kube kind" in out.stderr, out.stderr

    work = podman.dir / "modern"
    cluster, config = mounted_files(work)
    etcd_docs, dep = played_copies(cluster, config)
    (work / "etcd.yaml").write_text(yaml.safe_dump_all(etcd_docs))
    (work / "kube-dns.yaml").write_text(yaml.safe_dump(dep))
    replicas = dep["spec"]["replicas"]
    pods = [f"{dep['metadata']['name']}-pod-{i}" for i in range(replicas)]
    clients = []
    with bridge_lock():
        try:
            t0 = time.monotonic()
            podman("kube", "play", str(work / "etcd.yaml"))
            ip = podman("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                        "kube-dns-etcd-0-etcd")
            assert ip, "the etcd pod has no address"
            hosts = podman.dir / "hosts"
            hosts.write_text(hosts.read_text().replace("127.0.0.1 kube-dns-etcd", f"{ip} kube-dns-etcd"))
            podman("kube", "play", str(work / "kube-dns.yaml"))
            names = podman("pod", "ps", "--format", "{{.Name}}").split()
            assert set(pods) <= set(names), names
            for name in pods:
                c = Pod(podman, name)
                c.name = name  # the played pod itself
                clients.append(c)
            for c in clients:
                got = c.client("ready", "http://127.0.0.1:8080/readiness,http://127.0.0.1:8081/readiness")
                assert isinstance(got["ready http://127.0.0.1:8080/readiness,http://127.0.0.1:8081/readiness"], float), \
                    f"{c.name}: {got}\n{c.logs()}"
            report(f"modern: etcd pod and {replicas} kube-dns replicas played, ready in {time.monotonic() - t0:.1f}s")

            # securityContext as played: uid 10001, no privilege escalation, a
            # read-only root, and port 53 bound through the file capability
            for c in clients:
                for ctr in ("kube2sky", "skydns"):
                    st = c.status(ctr)
                    assert st["Uid"] == ["10001"] * 4 and st["NoNewPrivs"] == ["1"], (c.name, ctr, st)
                    assert int(st["CapAmb"][0], 16) == 0, (c.name, ctr, st)
                    assert podman("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", c.ctr(ctr)) == "true"
                assert c.client("listening", "53") == {"listening 53": ["tcp", "udp"]}
            assert c.status("skydns")["CapEff"] == ["0000000000000400"]

            for c in clients:
                wait_answers(c, NAMES, {k: v for k, v in ANSWERS.items()})

            # one kube2sky writes (the etcd lease); stopped, the other takes over
            logs = {}
            for c in clients:
                out = podman.run("logs", c.ctr("kube2sky"), check=False)
                logs[c.name] = out.stdout + out.stderr
            leaders = [n for n, text in logs.items() if "leading" in text]
            assert len(leaders) == 1, logs
            leader = next(c for c in clients if c.name == leaders[0])
            other = next(c for c in clients if c is not leader)
            podman("stop", "--time", "5", leader.ctr("kube2sky"))
            text = (cluster / "cluster.yaml").read_text()
            replace(cluster / "cluster.yaml", text.replace("clusterIP: 10.0.0.10", "clusterIP: 10.0.0.12"))
            ttl = float(next(a.split("=", 1)[1] for c in dep["spec"]["template"]["spec"]["containers"]
                             if c["name"] == "kube2sky" for a in c["command"] if a.startswith("--lease-ttl=")))
            took = wait_answers(other, ["hosts", "web"], {"hosts web": ["10.0.0.12"]}, limit=ttl + 15)
            wait_answers(leader, ["hosts", "web"], {"hosts web": ["10.0.0.12"]}, limit=5)
            report(f"modern: the other kube2sky took over and both skydns answer the change in {took:.1f}s"
                   f" (lease ttl {ttl:.0f}s)")
        except AssertionError:
            for c in clients:
                print(c.logs())
            raise
        finally:
            for name in [*pods, "kube-dns-etcd-0"]:
                podman.run("pod", "rm", "--force", "--time", "0", name, check=False)
            podman.run("volume", "rm", "--force", "data-kube-dns-etcd-0", check=False)


# -- docker-compose.yml brought up by podman-compose ----------------------------


def test_compose_file_with_podman_compose(podman, images, report):
    """podman-compose (Debian's) runs the compose file as written: its
    network with name resolution between services, the named volume, the
    published port 127.0.0.1:1053, all inside the test's network namespace.
    podman-compose 1.0.3 leaves `${KUBE_MASTER_URL:-}` (an empty default)
    unexpanded; kube2sky reads the cluster file then and ignores it."""
    tool = shutil.which("podman-compose")
    assert tool, "podman-compose is not installed: run `make setup`"
    project = f"skydns-compose-{uuid.uuid4().hex[:6]}"
    args = ["-p", project, "-f", str(COMPOSE)]
    doc = yaml.safe_load(COMPOSE.read_text())
    assert "cap_add" not in doc["services"]["skydns"], "port 53 needs no capability handed to the container"
    with bridge_lock():
        try:
            t0 = time.monotonic()
            podman(*args, "up", "-d", "--no-build", tool=tool, timeout=300)
            ctrs = {s: f"{project}_{s}_1" for s in doc["services"]}
            for s, c in ctrs.items():
                assert podman("inspect", "--format", "{{.State.Running}}", c) == "true", podman.run("logs", c).stderr

            def dig(*q):
                out = subprocess.run([*podman.nsenter, "dig", "@127.0.0.1", "-p", "1053", "+short", "+time=1", "+tries=1", *q],
                                     capture_output=True, text=True, timeout=30)
                return sorted(out.stdout.split("\n")[:-1]) if out.returncode == 0 and not out.stdout.startswith(";;") else None

            deadline = time.monotonic() + 60
            while dig("web.default.svc.cluster.local") != ["10.0.0.10"]:
                assert time.monotonic() < deadline, "\n".join(podman.run("logs", c, check=False).stderr[-2000:]
                                                              for c in ctrs.values())
                time.sleep(0.5)
            report(f"compose: up and answering on 127.0.0.1:1053 in {time.monotonic() - t0:.1f}s")
            assert dig("+tcp", "SRV", "_pg._tcp.db.default.svc.cluster.local") == [
                "10 50 5432 db-0.db.default.svc.cluster.local.", "10 50 5432 db-1.db.default.svc.cluster.local."]
            assert dig("db.default.svc.cluster.local") == ["10.1.0.1", "10.1.0.2"]
            for s in ("kube2sky", "skydns"):
                assert podman("exec", ctrs[s], "id", "-u") == "10001"
            assert podman("exec", ctrs["skydns"], "grep", "CapAmb", "/proc/1/status").split()[1] == "0000000000000000"
        finally:
            podman.run(*args, "down", "-v", tool=tool, check=False, timeout=300)
