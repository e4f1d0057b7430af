"""The etcd the tests run against is real: a value written with the v3 API
comes back byte for byte, with a revision."""

import aetcd
import pytest

from skydns_common.etcd import list_prefix

pytestmark = [pytest.mark.etcd]


async def test_put_and_read_back(etcd):
    port = int(etcd.url.rsplit(":", 1)[1])
    async with aetcd.Client("127.0.0.1", port) as c:
        value = b'{"host":"10.254.7.160","priority":10,"weight":10,"ttl":30,"targetstrip":0}'
        await c.put(b"/fixture-test/local/cluster/svc/default/redis/c88f1059", value)
        got = await c.get(b"/fixture-test/local/cluster/svc/default/redis/c88f1059")
        assert got is not None and got.value == value and got.mod_revision > 0
        await c.delete_prefix(b"/fixture-test/")
        assert await c.get(b"/fixture-test/local/cluster/svc/default/redis/c88f1059") is None


@pytest.mark.parametrize("keys, page", [(0, 10), (9, 10), (10, 10), (25, 10), (25, 1)])
async def test_listing_in_pages_is_one_snapshot(etcd, keys, page):
    """skydns lists its prefix in pages, all read at the first page's
    revision: a key written between two pages is not in the listing, and
    every key before it is, once, in order."""
    port = int(etcd.url.rsplit(":", 1)[1])
    head = f"/pages-{keys}-{page}/"
    async with aetcd.Client("127.0.0.1", port) as c:
        want = {f"{head}k{i:03d}".encode(): f"v{i}".encode() for i in range(keys)}
        for k, v in want.items():
            await c.put(k, v)
        await c.put(b"/pages-outside", b"not under the prefix")
        got, revisions, pages = [], set(), 0
        async for revision, kvs in list_prefix(c, head.encode(), page=page):
            pages += 1
            revisions.add(revision)
            got.extend((k, v) for k, v, _ in kvs)
            if pages == 1:
                await c.put(f"{head}k000-late".encode(), b"written after the first page")
        assert got == sorted(want.items())
        assert len(revisions) == 1
        assert pages == max(1, -(-keys // page))
        await c.delete_prefix(head.encode())
