"""The etcd the tests run against is real: a value written with the v3 API
comes back byte for byte, with a revision."""

import aetcd


async def test_put_and_read_back(etcd):
    port = int(etcd.url.rsplit(":", 1)[1])
    async with aetcd.Client("127.0.0.1", port) as c:
        value = b'{"host":"10.254.7.160","priority":10,"weight":10,"ttl":30,"targetstrip":0}'
        await c.put(b"/fixture-test/local/cluster/svc/default/redis/c88f1059", value)
        got = await c.get(b"/fixture-test/local/cluster/svc/default/redis/c88f1059")
        assert got is not None and got.value == value and got.mod_revision > 0
        await c.delete_prefix(b"/fixture-test/")
        assert await c.get(b"/fixture-test/local/cluster/svc/default/redis/c88f1059") is None
