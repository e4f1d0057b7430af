"""skydnsctl: inspect, edit and migrate the records of old clusters.

The composition root of the tool: flags, one etcd connection per run, and
the one place where errors become a single line on stderr and an exit code
(2 for bad input, 1 for a failure or a difference found); nothing is
written when validation fails.
"""

from __future__ import annotations

import os

# gRPC's C core writes its own lines to stderr; a command-line tool says one
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import sys  # noqa: E402

import aetcd  # noqa: E402

from skydns_common import goflags
from . import commands


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="skydnsctl", description="inspect, edit and migrate skydns records in etcd")
    p.add_argument("--machines", default=os.environ.get("ETCD_MACHINES", "http://127.0.0.1:2379"),
                   help="comma-separated etcd v3 endpoints (env ETCD_MACHINES)")
    p.add_argument("--path-prefix", default=os.environ.get("SKYDNS_PATH_PREFIX", "skydns"), help="etcd key prefix")
    p.add_argument("--domain", default="", help="the skydns domain (default: /<prefix>/config, else cluster.local.)")
    p.add_argument("--tls-key", default="", help="client key for etcd")
    p.add_argument("--tls-pem", default="", help="client certificate for etcd")
    p.add_argument("--ca-cert", default="", help="CA certificate for etcd")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    ls = sub.add_parser("ls", help="the records under a name")
    ls.add_argument("name", nargs="?", default="")
    ls.add_argument("--json", action="store_true", help="one JSON object per record, for scripts")

    add = sub.add_parser("add", help="add a custom record")
    add.add_argument("name")
    add.add_argument("host", nargs="?", default="")
    add.add_argument("--port", type=int, default=0)
    add.add_argument("--priority", type=int, default=0)
    add.add_argument("--weight", type=int, default=0)
    add.add_argument("--ttl", type=int, default=0)
    add.add_argument("--text", default="")
    add.add_argument("--mail", action="store_true", help="answer MX with this host")

    rm = sub.add_parser("rm", help="remove the records of a name")
    rm.add_argument("name")
    rm.add_argument("--host", default="", help="only the leaves with this host")
    rm.add_argument("--force", action="store_true", help="also kube2sky's own keys")

    hosts = sub.add_parser("hosts", help="records from a hosts file").add_subparsers(dest="hosts_cmd", required=True)
    for verb in ("import", "sync"):
        h = hosts.add_parser(verb, help=f"{verb} a hosts file")
        h.add_argument("file")
        h.add_argument("--zone", default="", help="appended to names outside the domain (default: the domain, "
                       "so a pod finds bare names through its search list; must be inside the domain)")
        h.add_argument("--set", default="", help="name of this set of records (default: the file's absolute path)")
        h.add_argument("--ttl", type=int, default=0)
        if verb == "sync":
            h.add_argument("--watch", action="store_true", help="keep applying changes to the file")
            h.add_argument("--interval", type=goflags.duration, default=1.0, help=argparse.SUPPRESS)

    mig = sub.add_parser("migrate", help="move records between layouts or from etcd v2").add_subparsers(
        dest="mig_cmd", required=True)
    lay = mig.add_parser("layout", help="svc <-> legacy kube2sky layouts")
    lay.add_argument("--to", required=True, choices=["svc", "legacy", "both"])
    lay.add_argument("--dry-run", action="store_true")
    v2 = mig.add_parser("v2", help="copy /<prefix> from an etcd v2 API into v3 keys")
    v2.add_argument("--from", dest="source", required=True, help="v2 endpoint, e.g. http://127.0.0.1:4001")
    v2.add_argument("--dry-run", action="store_true")
    v2.add_argument("--progress", choices=["auto", "always", "never"], default="auto")

    ex = sub.add_parser("export", help="the records as hosts, BIND zone or CoreDNS Corefile")
    ex.add_argument("--format", required=True, choices=["hosts", "zone", "corefile"])

    diff = sub.add_parser("diff", help="ask two servers the same questions and report differences")
    diff.add_argument("server_a")
    diff.add_argument("server_b")
    diff.add_argument("names_file", nargs="?", default="", help="lines of 'name [TYPE]' (default: the store)")
    diff.add_argument("--ttl", action="store_true", help="compare TTLs too")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(goflags.normalise(argv))
    try:
        return asyncio.run(commands.run(args))
    except ValueError as exc:
        print(f"skydnsctl: {exc}", file=sys.stderr)
        return 2
    except (ConnectionError, OSError, aetcd.exceptions.ClientError) as exc:
        print(f"skydnsctl: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
