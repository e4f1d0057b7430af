"""skydnsctl against a real etcd: each command's output and the keys it leaves."""

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from tests import etcdkv
from tests.dnsq import ask, records
from tests.procs import REPO, Process, Skydns

pytestmark = [pytest.mark.etcd, pytest.mark.process]

P = "ctl"
D = f"/{P}/local/cluster"


def ctl(etcd, *args, check=None):
    r = subprocess.run([sys.executable, "-m", "skydnsctl", f"--machines={etcd.url}", f"--path-prefix={P}", *args],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    if check is not None:
        assert r.returncode == check, r.stdout + r.stderr
    return r


@pytest.fixture
def tree(etcd):
    etcdkv.delete_prefix(etcd.url, f"/{P}/")
    etcdkv.delete_prefix(etcd.url, "/skydnsctl/")
    yield lambda sub="": {k: v.decode() for k, v in etcdkv.dump(etcd.url, f"/{P}/{sub}").items()}
    etcdkv.delete_prefix(etcd.url, f"/{P}/")
    etcdkv.delete_prefix(etcd.url, "/skydnsctl/")


ADDS = [
    (["nn1.hadoop.cluster.local", "10.1.1.1"], f"{D}/hadoop/nn1/cc17103d", '{"host":"10.1.1.1"}'),
    (["web.cluster.local", "10.0.0.5", "--port", "80", "--ttl", "30"], None, '{"host":"10.0.0.5","port":80,"ttl":30}'),
    (["txt.cluster.local", "--text", "hello"], None, '{"text":"hello"}'),
    (["mx.cluster.local", "mail.example.org", "--mail", "--priority", "5"], None,
     '{"host":"mail.example.org","priority":5,"mail":true}'),
]


@pytest.mark.parametrize("args,key,value", ADDS)
def test_add_writes_a_validated_record(etcd, tree, args, key, value):
    out = ctl(etcd, "add", *args, check=0).stdout
    (k, v), = tree().items()
    assert v == value and out.strip() == f"{k} {v}"
    if key:
        assert k == key


@pytest.mark.parametrize("args,needle", [
    (["add", "x.cluster.local", "10.0.0.1", "--port", "70000"], "'port' must be in 0..65535"),
    (["add", "a..b.cluster.local", "10.0.0.1"], "cannot be a key"),
    (["add", "x.cluster.local"], "give a HOST"),
    (["add", "x.cluster.local", "bad host!"], "label"),
    (["add", "registry", "10.0.0.1"], "outside the domain cluster.local. skydns serves"),
    (["rm", "nothere.cluster.local"], "no records under"),
    (["hosts", "import", "/nonexistent/hosts"], "No such file"),
    (["migrate", "layout", "--to", "sideways"], "invalid choice"),
    (["--tls-key=k.pem", "ls"], "needs its key and the key its certificate"),
    (["--ca-cert=/nonexistent.pem", "ls"], "cannot read /nonexistent.pem"),
])
def test_bad_input_is_one_line_and_writes_nothing(etcd, tree, args, needle):
    r = ctl(etcd, *args)
    assert r.returncode == 2
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert tree() == {}


def test_unreachable_etcd_is_one_line(tree):
    r = subprocess.run([sys.executable, "-m", "skydnsctl", "--machines=http://127.0.0.1:1", "ls"],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "cannot reach etcd" in r.stderr


def test_ls_table_and_json(etcd, tree):
    ctl(etcd, "add", "nn1.hadoop.cluster.local", "10.1.1.1", check=0)
    ctl(etcd, "add", "web.cluster.local", "10.0.0.5", "--port", "80", check=0)
    etcdkv.put(etcd.url, {f"{D}/broken": "{nope"})
    r = ctl(etcd, "ls", check=0)
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "HOST", "PORT", "TTL", "KEY"]
    # the types are the server's (rrsets.leaf_types): it answers SRV for any host, port 0 included
    assert lines[1].split() == ["nn1.hadoop.cluster.local.", "A,SRV", "10.1.1.1", "3600", f"{D}/hadoop/nn1/cc17103d"]
    assert lines[2].split()[:4] == ["web.cluster.local.", "A,SRV", "10.0.0.5", "80"]
    assert f"{D}/broken is not a record" in r.stderr
    js = [json.loads(x) for x in ctl(etcd, "ls", "hadoop.cluster.local", "--json", check=0).stdout.splitlines()]
    assert js == [{"name": "nn1.hadoop.cluster.local.", "type": "A,SRV", "host": "10.1.1.1", "port": 0, "ttl": 3600,
                   "key": f"{D}/hadoop/nn1/cc17103d", "value": {"host": "10.1.1.1"}}]


def test_rm_refuses_kube2sky_keys_without_force(etcd, tree):
    k2s = f"{D}/svc/default/redis/c88f1059"
    etcdkv.put(etcd.url, {k2s: '{"host":"10.0.0.1","priority":10,"weight":10,"ttl":30,"targetstrip":0}'})
    r = ctl(etcd, "rm", "redis.default.svc.cluster.local")
    assert r.returncode == 2 and "kube2sky" in r.stderr and k2s in tree()
    ctl(etcd, "rm", "redis.default.svc.cluster.local", "--force", check=0)
    assert tree() == {}


def test_rm_one_host(etcd, tree):
    ctl(etcd, "add", "multi.cluster.local", "10.0.0.1", check=0)
    ctl(etcd, "add", "multi.cluster.local", "10.0.0.2", check=0)
    ctl(etcd, "rm", "multi.cluster.local", "--host", "10.0.0.1", check=0)
    assert list(tree().values()) == ['{"host":"10.0.0.2"}']


def test_hosts_sync_watch_changes_dns_without_restart(etcd, tree, tmp_path):
    hosts = tmp_path / "hadoop-hosts"
    hosts.write_text("10.2.0.1 dn1 dn1-alias\n10.2.0.2 dn2  # a comment\n\n")
    etcdkv.put(etcd.url, {f"{D}/hadoop/custom": '{"host":"10.9.9.9"}'})
    sky = Skydns(etcd.url, "-domain=cluster.local.", f"-path-prefix={P}")
    watcher = Process("skydnsctl", [f"--machines={etcd.url}", f"--path-prefix={P}", "hosts", "sync", str(hosts),
                                     "--zone", "hadoop.cluster.local", "--watch", "--interval", "0.1"])
    try:
        def addrs(name):
            return sorted(r["address"] for r in records(ask(sky.port, name, "A").answer))

        def eventually(name, want):
            deadline = time.monotonic() + 5
            while addrs(name) != want:
                assert time.monotonic() < deadline, f"{name}: {addrs(name)} != {want}\n{watcher.output()}"
                time.sleep(0.05)

        eventually("dn1-alias.hadoop.cluster.local.", ["10.2.0.1"])
        eventually("dn2.hadoop.cluster.local.", ["10.2.0.2"])
        hosts.write_text("10.2.0.1 dn1\n10.2.0.3 dn3\n")
        eventually("dn3.hadoop.cluster.local.", ["10.2.0.3"])
        eventually("dn2.hadoop.cluster.local.", [])
        eventually("dn1-alias.hadoop.cluster.local.", [])
        assert addrs("custom.hadoop.cluster.local.") == ["10.9.9.9"]  # not the file's: left alone
        hosts.write_text("not an address dn9\n")
        time.sleep(0.5)
        assert addrs("dn3.hadoop.cluster.local.") == ["10.2.0.3"]  # a bad file changes nothing
        assert "line 1" in watcher.output()
    finally:
        watcher.stop()
        sky.stop()


def test_hosts_import_is_one_transaction(etcd, tree, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("".join(f"10.3.0.{i} h{i}\n" for i in range(1, 51)))
    rev_before = etcdkv.run(etcd.url, lambda c: c.get_prefix(b"/nothing/")).header.revision
    ctl(etcd, "hosts", "import", str(hosts), "--zone", "lab.cluster.local", check=0)
    rev_after = etcdkv.run(etcd.url, lambda c: c.get_prefix(b"/nothing/")).header.revision
    assert len(tree()) == 50 and rev_after == rev_before + 1


SVC_TREE = {
    f"{D}/svc/default/redis/c88f1059": '{"host":"10.0.0.1","priority":10,"weight":10,"ttl":30,"targetstrip":0}',
    f"{D}/svc/default/redis/_tcp/_redis/c88f1059":
        '{"host":"redis.default.svc.cluster.local.","port":6379,"priority":10,"weight":10,"ttl":30,"targetstrip":0}',
    f"{D}/svc/kube-system/dns/2f15de08": '{"host":"11.1.1.1","priority":10,"weight":10,"ttl":30,"targetstrip":0}',
    f"{D}/hadoop/nn1": '{"host":"10.1.1.1"}',
}


def test_migrate_layout_round_trips(etcd, tree):
    etcdkv.put(etcd.url, SVC_TREE)
    dry = ctl(etcd, "migrate", "layout", "--to", "legacy", "--dry-run", check=0).stdout
    assert f"put {D}/default/redis" in dry and "2 services would change" in dry
    assert tree() == SVC_TREE
    ctl(etcd, "migrate", "layout", "--to", "legacy", check=0)
    legacy = tree()
    assert legacy[f"{D}/default/redis"] == SVC_TREE[f"{D}/svc/default/redis/c88f1059"]
    assert f"{D}/svc/default/redis/c88f1059" not in legacy
    ctl(etcd, "migrate", "layout", "--to", "svc", check=0)
    assert tree() == SVC_TREE
    ctl(etcd, "migrate", "layout", "--to", "both", check=0)
    both = tree()
    assert both[f"{D}/default/redis"] == both[f"{D}/svc/default/redis/c88f1059"]
    assert "0 services changed" in ctl(etcd, "migrate", "layout", "--to", "both", check=0).stdout


def v2put(etcd, key, value, ttl=None):
    data = f"value={urllib.request.quote(value)}" + (f"&ttl={ttl}" if ttl else "")
    req = urllib.request.Request(f"{etcd.url}/v2/keys{key}", data=data.encode(), method="PUT",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    urllib.request.urlopen(req, timeout=5).read()


def test_migrate_v2(etcd, tree):
    for i in range(30):
        v2put(etcd, f"/{P}/local/cluster/v2/h{i}", f'{{"host":"10.4.0.{i}"}}')
    v2put(etcd, f"/{P}/local/cluster/v2/odd", "{not json but copied as is")
    v2put(etcd, f"/{P}/local/cluster/v2/leased", '{"host":"10.4.1.1"}', ttl=120)
    req = urllib.request.Request(f"{etcd.url}/v2/keys/{P}/local/cluster/emptydir?dir=true", method="PUT")
    urllib.request.urlopen(req, timeout=5).read()
    out = ctl(etcd, "migrate", "v2", "--from", etcd.url, "--progress", "always", check=0)
    assert "copied 32 new and 0 changed keys" in out.stdout and "1 bound to a lease" in out.stdout
    assert "skipped" in out.stdout and "emptydir: empty directory" in out.stdout
    assert "32/32" in out.stderr
    got = tree()
    assert got[f"{D}/v2/odd"] == "{not json but copied as is" and len(got) == 32

    async def lease_of(c):
        kv = await c.get(f"{D}/v2/leased".encode())
        info = await c.get_lease_info(kv.lease, keys=False)
        return kv.lease, info.TTL
    lease, ttl = etcdkv.run(etcd.url, lease_of)
    assert lease != 0 and 100 < ttl <= 120
    again = ctl(etcd, "migrate", "v2", "--from", etcd.url, check=0).stdout
    assert "copied 0 new and 0 changed keys" in again and "31 already identical" in again
    assert tree() == got


def test_export(etcd, tree):
    etcdkv.put(etcd.url, {**SVC_TREE, f"{D}/dns/ns/a": '{"host":"10.0.0.53"}',
                          f"{D}/txt/t": '{"text":"hi \\"there\\""}'})
    hosts = ctl(etcd, "export", "--format", "hosts", check=0).stdout
    assert hosts.splitlines() == ["10.0.0.1\tredis.default.svc.cluster.local", "10.0.0.53\ta.ns.dns.cluster.local",
                                  "10.1.1.1\tnn1.hadoop.cluster.local", "11.1.1.1\tdns.kube-system.svc.cluster.local"]
    zone = ctl(etcd, "export", "--format", "zone", check=0).stdout.splitlines()
    assert zone[0] == "$ORIGIN cluster.local." and zone[1].startswith("@\t3600\tIN\tSOA\tns.dns.cluster.local. ")
    for line in ["redis.default.svc\t30\tIN\tA\t10.0.0.1",
                 "_redis._tcp.redis.default.svc\t30\tIN\tSRV\t10 100 6379 redis.default.svc.cluster.local.",
                 "@\t3600\tIN\tNS\ta.ns.dns.cluster.local.", "a.ns.dns\t3600\tIN\tA\t10.0.0.53",
                 't.txt\t3600\tIN\tTXT\t"hi \\"there\\""']:
        assert line in zone
    core = ctl(etcd, "export", "--format", "corefile", check=0).stdout
    assert f"path /{P}" in core and f"endpoint {etcd.url}" in core and "etcd cluster.local." in core


def test_diff_two_servers(etcd, tree, tmp_path):
    data = {k.replace(f"/{P}/", "/ctlb/"): v for k, v in SVC_TREE.items()}
    etcdkv.put(etcd.url, SVC_TREE)
    etcdkv.put(etcd.url, data)
    a = Skydns(etcd.url, "-domain=cluster.local.", f"-path-prefix={P}", "-round-robin=false")
    b = Skydns(etcd.url, "-domain=cluster.local.", "-path-prefix=ctlb", "-round-robin=false")
    try:
        same = ctl(etcd, "diff", f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}")
        assert same.returncode == 0 and "0 differences" in same.stderr and same.stdout == ""
        etcdkv.put(etcd.url, {"/ctlb/local/cluster/hadoop/nn1": '{"host":"10.1.1.2"}'})
        time.sleep(0.2)
        changed = ctl(etcd, "diff", f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}")
        assert changed.returncode == 1 and "1 differences" in changed.stderr
        assert changed.stdout.splitlines()[0] == "nn1.hadoop.cluster.local. A:"
        names = tmp_path / "names"
        names.write_text("redis.default.svc.cluster.local A\n_redis._tcp.redis.default.svc.cluster.local SRV\n")
        assert ctl(etcd, "diff", f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}", str(names)).returncode == 0
    finally:
        a.stop()
        b.stop()
        etcdkv.delete_prefix(etcd.url, "/ctlb/")


def test_hosts_without_zone_are_served_under_the_domain(etcd, tree, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("10.4.0.1 registry paas-nacos-register\n10.4.0.2 nexus.tools\nfd00::4 registry\n")
    out = ctl(etcd, "hosts", "import", str(hosts), check=0).stdout
    assert "under cluster.local." in out
    sky = Skydns(etcd.url, "-domain=cluster.local.", f"-path-prefix={P}")
    try:
        def addrs(name, qtype="A"):
            return sorted(r["address"] for r in records(ask(sky.port, name, qtype).answer))
        assert addrs("registry.cluster.local.") == ["10.4.0.1"]
        assert addrs("registry.cluster.local.", "AAAA") == ["fd00::4"]
        assert addrs("paas-nacos-register.cluster.local.") == ["10.4.0.1"]
        assert addrs("nexus.tools.cluster.local.") == ["10.4.0.2"]
    finally:
        sky.stop()
    assert all(k.startswith(f"{D}/") for k in tree())


@pytest.mark.parametrize("args,needle", [
    (["--zone", "hadoop.example.com"], "outside the domain cluster.local."),
    (["--set", "a/b"], "bad set name"),
])
def test_hosts_refuses_what_skydns_would_not_serve(etcd, tree, tmp_path, args, needle):
    hosts = tmp_path / "hosts"
    hosts.write_text("10.4.0.1 registry\n")
    r = ctl(etcd, "hosts", "sync", str(hosts), *args, check=2)
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert tree() == {} and etcdkv.dump(etcd.url, "/skydnsctl/") == {}


def test_two_files_called_hosts_are_two_sets(etcd, tree, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = tmp_path / "a" / "hosts", tmp_path / "b" / "hosts"
    a.write_text("10.5.0.1 alpha\n10.5.0.9 shared\n")
    b.write_text("10.5.0.2 beta\n10.5.0.9 shared\n")
    ctl(etcd, "hosts", "sync", str(a), check=0)
    ctl(etcd, "hosts", "sync", str(b), check=0)
    assert len(etcdkv.dump(etcd.url, f"/skydnsctl/hosts/{P}/")) == 2
    a.write_text("")
    ctl(etcd, "hosts", "sync", str(a), check=0)
    names = sorted(k.split("/")[-2] for k in tree())
    assert names == ["beta", "shared"]  # a's own record went; b's, and the one both list, stayed


def test_import_adds_and_updates_sync_removes(etcd, tree, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("10.6.0.1 a\n10.6.0.2 b\n")
    ctl(etcd, "hosts", "import", str(hosts), check=0)
    hosts.write_text("10.6.0.3 a\n")
    ctl(etcd, "hosts", "import", str(hosts), check=0)
    assert sorted(tree().values()) == ['{"host":"10.6.0.2"}', '{"host":"10.6.0.3"}']  # a updated, b kept
    ctl(etcd, "hosts", "sync", str(hosts), check=0)
    assert list(tree().values()) == ['{"host":"10.6.0.3"}']


def test_sync_owns_exactly_its_set(etcd, tree, tmp_path):
    ctl(etcd, "add", "registry.cluster.local", "10.7.0.1", check=0)
    hosts = tmp_path / "hosts"
    hosts.write_text("10.7.0.1 registry\n10.7.0.2 other\n")
    ctl(etcd, "hosts", "sync", str(hosts), check=0)
    hosts.write_text("")
    ctl(etcd, "hosts", "sync", str(hosts), check=0)
    assert list(tree().values()) == ['{"host":"10.7.0.1"}']  # written by `add` before the set: never the set's


def test_sync_takes_over_a_manifest_of_the_old_layout(etcd, tree, tmp_path):
    hosts = tmp_path / "hadoop-hosts"
    hosts.write_text("10.8.0.1 dn1\n")
    old_key = f"{D}/dn1/{'%x' % 0}"  # any key the old set wrote
    etcdkv.put(etcd.url, {old_key: '{"host":"10.8.0.9"}',
                          "/skydnsctl/hosts/hadoop-hosts": json.dumps({"keys": [old_key], "updated": 1})})
    ctl(etcd, "hosts", "sync", str(hosts), check=0)
    assert list(tree().values()) == ['{"host":"10.8.0.1"}']  # the old set's record went with the takeover
    assert "/skydnsctl/hosts/hadoop-hosts" not in etcdkv.dump(etcd.url, "/skydnsctl/")
