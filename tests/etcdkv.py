"""Writing to the test etcd from synchronous tests, with the v3 API."""

from __future__ import annotations

import asyncio

import aetcd


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def run(url: str, fn):
    async def go():
        async with aetcd.Client("127.0.0.1", _port(url), options={"grpc.max_receive_message_length": 256 << 20}) as c:
            return await fn(c)
    return asyncio.run(go())


def put(url: str, items: dict[str, str | bytes]) -> None:
    async def fn(c):
        for k, v in items.items():
            await c.put(k.encode(), v if isinstance(v, bytes) else v.encode())
    run(url, fn)


def delete(url: str, *keys: str) -> None:
    async def fn(c):
        for k in keys:
            await c.delete(k.encode())
    run(url, fn)


def delete_prefix(url: str, prefix: str) -> None:
    run(url, lambda c: c.delete_prefix(prefix.encode()))


def dump(url: str, prefix: str) -> dict[str, bytes]:
    async def fn(c):
        r = await c.get_prefix(prefix.encode())
        return {kv.key.decode(): kv.value for kv in r.kvs}
    return run(url, fn)
