"""etcd access for skydnsctl: read the prefix, write in transactions.

Every command reads what it needs in one range read and writes in
transactions of at most ``TXN_OPS`` operations (etcd's default limit is
128), so a validation failure writes nothing and a change to one name is
never half-applied.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import aetcd

from skydns_common.etcd import TXN_OPS, Endpoints, Tls


def from_args(args) -> "Etcd":
    """The etcd of skydnsctl's connection flags."""
    return Etcd(args.machines.split(","), args.path_prefix, Tls(args.ca_cert, args.tls_pem, args.tls_key))


class Etcd:
    def __init__(self, machines: Iterable[str], prefix: str, tls: Tls | None = None) -> None:
        self.endpoints = Endpoints(list(machines), tls)
        self.prefix = prefix.strip("/")
        self.client: Any = None  # an aetcd.Client inside `async with`

    async def __aenter__(self) -> "Etcd":
        last = None
        for _ in self.endpoints.addrs:
            self.client = self.endpoints.client(timeout=10)
            try:
                await self.client.connect()
                await self.client.status()
                return self
            except aetcd.exceptions.ClientError as exc:
                last = exc
                await self.client.close()
                self.endpoints.advance()
        raise ConnectionError(f"cannot reach etcd at {','.join(self.endpoints.urls)}: "
                              f"{str(last).splitlines()[0] if str(last) else type(last).__name__}")

    async def __aexit__(self, *exc) -> None:
        if self.client is not None:
            await self.client.close()

    async def tree(self, head: str | None = None) -> dict[str, bytes]:
        head = head or f"/{self.prefix}/"
        result = await self.client.get_prefix(head.encode())
        return {kv.key.decode(errors="replace"): kv.value for kv in result.kvs}

    async def get(self, key: str) -> bytes | None:
        got = await self.client.get(key.encode())
        return None if got is None else got.value

    async def apply(self, puts: Mapping[str, str | bytes], deletes: Iterable[str] = (), lease: Any = None) -> None:
        c = self.client
        ops = [c.transactions.put(k.encode(), v if isinstance(v, bytes) else v.encode(), lease=lease)
               for k, v in puts.items()]
        ops += [c.transactions.delete(k.encode()) for k in deletes]
        for i in range(0, len(ops), TXN_OPS):
            await c.transaction(compare=[], success=ops[i:i + TXN_OPS], failure=[])
