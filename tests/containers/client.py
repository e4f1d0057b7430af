"""Run inside a client container of the pod (Debian base: python3, getent,
dig): answers what the test asks as one JSON object on stdout.

    client.py OP ARG [OP ARG ...]
    hosts NAME     the addresses `getent hosts NAME` prints (the stub resolver, resolv.conf's search list);
                   not `getent ahostsv4`: getaddrinfo's AI_ADDRCONFIG finds no IPv4 address but
                   loopback in a `--network none` pod and asks nothing
    srv NAME       `dig +short SRV NAME` lines
    a NAME         `dig +short A NAME` lines (null when dig gets no answer at all)
    ready URLS     seconds until every comma-separated URL answered 200 (60 s at most)
    keys PREFIX    the keys under PREFIX in etcd on 127.0.0.1:2379 (v3 JSON gateway)
    listening PORT the protocols with a socket bound to PORT in the pod (udp, tcp listen)
"""

import base64
import json
import subprocess
import sys
import time
import urllib.request


def run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout


def hosts(name):
    rc, out = run("getent", "hosts", name)
    return sorted(line.split()[0] for line in out.splitlines()) if rc == 0 else []


def dig(qtype, name):
    rc, out = run("dig", "+short", "+time=1", "+tries=2", qtype, name)
    if rc != 0 or out.startswith(";;"):
        return None
    return sorted(line for line in out.splitlines() if line)


def ready(urls):
    start = time.monotonic()
    todo = set(urls.split(","))
    last = {}
    while todo and time.monotonic() - start < 60:
        for url in sorted(todo):
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        todo.discard(url)
            except Exception as exc:  # noqa: BLE001 - not yet
                last[url] = repr(exc)
        time.sleep(0.05)
    return round(time.monotonic() - start, 2) if not todo else {"not ready": sorted(todo), "last": last}


def keys(prefix):
    def b(s):
        return base64.b64encode(s.encode()).decode()
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    body = json.dumps({"key": b(prefix), "range_end": b(end), "keys_only": True}).encode()
    req = urllib.request.Request("http://127.0.0.1:2379/v3/kv/range", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        kvs = json.load(r).get("kvs", [])
    return sorted(base64.b64decode(kv["key"]).decode() for kv in kvs)


def listening(port):
    found = []
    for proto in ("udp", "tcp", "udp6", "tcp6"):
        try:
            lines = open(f"/proc/net/{proto}").read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) == int(port) and (proto.startswith("udp") or f[3] == "0A"):
                found.append(proto)
    return sorted(set(found))


OPS = {"hosts": hosts, "srv": lambda n: dig("SRV", n), "a": lambda n: dig("A", n),
       "ready": ready, "keys": keys, "listening": listening}

args = sys.argv[1:]
print(json.dumps({f"{op} {arg}": OPS[op](arg) for op, arg in zip(args[::2], args[1::2])}))
