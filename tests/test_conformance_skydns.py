"""The original skydns's own test table (shared/conformance/skydns_cases.json),
replayed against our server: records written to a real etcd with the v3 API,
config at /skydns/config, the server run as a process with flags, every
question asked over UDP with dnspython, sections compared as multisets on the
fields each case lists."""

import json

import aetcd
import pytest

from tests.dnsq import ask, rcode, records
from tests.procs import SHARED, Skydns

pytestmark = [pytest.mark.etcd, pytest.mark.process]

CASES_FILE = SHARED / "conformance" / "skydns_cases.json"


def load():
    if not CASES_FILE.exists():
        raise FileNotFoundError(f"conformance cases missing: {CASES_FILE} (set SKYDNS_SHARED)")
    return json.loads(CASES_FILE.read_text())


DATA = load()
CASES = [c for c in DATA["cases"] if not c["requires_external_network"]]


def etcd_config(cfg):
    return json.dumps({
        "domain": cfg["domain"], "ttl": cfg["ttl"], "min_ttl": cfg["min_ttl"], "priority": cfg["priority"],
        "ndot": cfg["ndots"], "round_robin": cfg["round_robin"], "ns_rotate": cfg["ns_rotate"],
        "no_rec": cfg["no_rec"], "hostmaster": cfg["hostmaster"], "local": cfg["local"],
    })


@pytest.fixture(scope="module")
def server(etcd):
    port = int(etcd.url.rsplit(":", 1)[1])

    async def load_records():
        async with aetcd.Client("127.0.0.1", port) as c:
            await c.delete_prefix(b"/skydns/")
            for r in DATA["records"]:
                await c.put(r["etcd_key"].encode(), r["value"].encode())
            await c.put(b"/skydns/config", etcd_config(DATA["config"]).encode())

    import asyncio
    asyncio.run(load_records())
    # deliberately a different domain on the command line: /skydns/config must win
    srv = Skydns(etcd.url, "-domain", "flag.invalid.")
    yield srv
    srv.stop()

    async def clean():
        async with aetcd.Client("127.0.0.1", port) as c:
            await c.delete_prefix(b"/skydns/")
    asyncio.run(clean())


def same(expected, actual_list):
    """Match expected records to actual ones as a multiset on compared fields."""
    left = list(actual_list)
    for e in expected:
        fields = e["compared_fields"]
        for i, a in enumerate(left):
            if all(a.get(f) == e.get(f) for f in fields):
                del left[i]
                break
        else:
            return False, e
    return True, None


@pytest.mark.parametrize("case", CASES, ids=[f'{c["id"]} {c["description"]}' for c in CASES])
def test_case(server, case):
    m = ask(server.port, case["qname"], case["qtype"], qclass=case["qclass"],
            use_edns=0 if case["dnssec"] else None, want_dnssec=case["dnssec"])
    assert rcode(m) == case["rcode"]
    got = {"answer": records(m.answer), "ns": records(m.authority), "extra": records(m.additional)}
    for section in ("answer", "ns", "extra"):
        want = case[section]
        have = got[section]
        count = len(have) + (1 if section == "extra" and m.opt is not None else 0)
        assert count == len(want), f"{section}: got {have}, want {[w['rr'] for w in want]}"
        ok, missing = same(want, have)
        assert ok, f"{section}: {missing['rr']} not in {have}"


def test_cases_were_loaded():
    assert len(CASES) >= 20
