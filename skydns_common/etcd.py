"""Connecting to etcd v3 through aetcd: endpoint parsing and client options.

skydns, kube2sky and skydnsctl all take a comma-separated list of endpoints
(``http://10.0.0.1:2379,http://10.0.0.2:2379``); a caller works with one at
a time and moves to the next when it fails.  gRPC keepalive is switched on,
with a bound on an unacknowledged ping (``grpc.http2.ping_timeout_ms``:
without it grpcio waits its own 60 s), so a member that hangs, rather than
closes its connections, is noticed within seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # before grpc is imported: no info lines in our logs

import aetcd  # noqa: E402
import grpc  # noqa: E402

KEEPALIVE = {
    "grpc.keepalive_time_ms": 5000,
    "grpc.keepalive_timeout_ms": 3000,
    "grpc.http2.ping_timeout_ms": 3000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.max_pings_without_data": 0,
    "grpc.max_receive_message_length": 256 << 20,
}


def parse_endpoint(url: str) -> tuple[str, int, bool]:
    """``http://127.0.0.1:2379``, ``https://…`` or ``127.0.0.1:2379`` ->
    (host, port, whether the URL asks for TLS)."""
    parts = urlsplit(url if "//" in url else "//" + url)
    if parts.scheme not in ("", "http", "https"):
        raise ValueError(f"{url}: not an http:// or https:// etcd endpoint")
    if not parts.hostname:
        raise ValueError(f"{url}: not an etcd endpoint")
    return parts.hostname, parts.port or 2379, parts.scheme == "https"


@dataclass(frozen=True)
class Tls:
    """File names of the CA certificate and of the client certificate and key
    (``-ca-cert``, ``-tls-pem``, ``-tls-key``); any may be empty."""

    ca: str = ""
    cert: str = ""
    key: str = ""

    def __bool__(self) -> bool:
        return bool(self.ca or self.cert or self.key)

    def credentials(self) -> grpc.ChannelCredentials:
        if bool(self.cert) != bool(self.key):
            raise ValueError("a client certificate needs its key and the key its certificate (-tls-pem, -tls-key)")

        def read(path: str) -> bytes | None:
            if not path:
                return None
            try:
                with open(path, "rb") as f:
                    return f.read()
            except OSError as exc:
                raise ValueError(f"cannot read {path}: {exc.strerror}") from None
        return grpc.ssl_channel_credentials(read(self.ca), read(self.key), read(self.cert))


class _TlsClient(aetcd.Client):
    """aetcd opens plain channels only; this one opens a TLS channel."""

    def __init__(self, *args, credentials: grpc.ChannelCredentials, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._credentials = credentials

    async def connect(self) -> None:
        plain = aetcd.rpc.insecure_channel
        aetcd.rpc.insecure_channel = lambda target, options=None: grpc.aio.secure_channel(
            target, self._credentials, options)
        try:
            await super().connect()
        finally:
            aetcd.rpc.insecure_channel = plain


class Endpoints:
    """A round-robin over the configured endpoints.  TLS is used when an
    endpoint says https:// or certificates are given."""

    def __init__(self, urls: list[str] | tuple[str, ...], tls: Tls | None = None) -> None:
        if not urls:
            raise ValueError("no etcd endpoints given")
        self.urls = list(urls)
        self.addrs = [parse_endpoint(u) for u in self.urls]
        self.tls = tls or Tls()
        self._credentials = self.tls.credentials() if (self.tls or any(a[2] for a in self.addrs)) else None
        self._cycle = itertools.cycle(range(len(self.addrs)))
        self.current = next(self._cycle)

    def advance(self) -> None:
        self.current = next(self._cycle)

    def client(self, timeout: float | None = 5) -> aetcd.Client:
        host, port, _ = self.addrs[self.current]
        if self._credentials is not None:
            return _TlsClient(host, port, timeout=timeout, options=KEEPALIVE, credentials=self._credentials)
        return aetcd.Client(host, port, timeout=timeout, options=KEEPALIVE)

    def __str__(self) -> str:
        return self.urls[self.current]


#: keys per range request when listing a prefix.  etcd (3.4) walks the rest
#: of the range for every page (to count it), so a listing costs about
#: keys^2 / (2 * PAGE) index steps: at 197,000 keys pages of 5,000 took 3.5 s
#: and pages of 20,000 1.0 s; at 750,000 keys pages of 20,000 took 3.2-3.5 s,
#: of 50,000 1.8-1.9 s and of 100,000 1.7-1.8 s.  A page of 50,000 kube2sky
#: values is ~8 MB of protobuf, two of which are held at a time.
PAGE = 50_000
#: operations in one transaction: etcd refuses more than its --max-txn-ops
#: (128 by default); every writer batches by this
TXN_OPS = 120


async def list_prefix(client: aetcd.Client, prefix: bytes, page: int = PAGE):
    """The keys under ``prefix`` as pages of (key, value, lease) at one
    revision: yields (revision, page).  Pages keep the client's peak memory
    to two pages' worth of protobuf instead of the whole listing (a 27 MB
    reply at 200,000 keys), and every page is read at the first page's
    revision, so together they are one consistent snapshot.  The next page
    is asked for before this one is handed over: etcd reads it (on another
    core) while the caller works on this one."""
    await client.connect()
    end = aetcd.utils.prefix_range_end(prefix)

    def ask(start: bytes, revision: int) -> asyncio.Future:
        request = aetcd.rpc.RangeRequest(key=start, range_end=end, limit=page, revision=revision)
        return asyncio.ensure_future(_range(client, request, None))

    pending = ask(prefix, 0)
    try:
        revision = 0
        while True:
            try:
                reply = await pending
            except aetcd.rpc.AioRpcError as exc:
                aetcd.exceptions._handle_exception(exc)  # the client's own errors (compaction, unavailable ...)
                raise
            revision = revision or reply.header.revision
            kvs = [(kv.key, kv.value, kv.lease) for kv in reply.kvs]
            more = reply.more and bool(kvs)
            del reply
            if more:
                pending = ask(kvs[-1][0] + b"\0", revision)
                await asyncio.sleep(0)  # the request goes out now, not when the caller is done with this page
            yield revision, kvs
            if not more:
                return
    finally:
        if not pending.done():
            pending.cancel()
        elif not pending.cancelled():
            pending.exception()  # a page nobody will read: its error is not "never retrieved"


def _range(client: aetcd.Client, request, timeout: float | None):
    return client.kvstub.Range(request, timeout=timeout if timeout is not None else client._timeout,
                               metadata=client.metadata)


async def head_revision(client: aetcd.Client, prefix: bytes, timeout: float | None = None) -> int:
    """etcd's current revision, from a one-key read (cheap at any size)."""
    await client.connect()
    request = aetcd.rpc.RangeRequest(key=prefix, range_end=aetcd.utils.prefix_range_end(prefix), limit=1,
                                     keys_only=True)
    return (await _range(client, request, timeout)).header.revision


async def first_change_after(client: aetcd.Client, prefix: bytes, revision: int,
                             timeout: float | None = None) -> int:
    """The oldest mod revision above ``revision`` among the keys under
    ``prefix`` (0 when none): what a watch from ``revision`` owes.  etcd
    reads the whole prefix for this (keys only), so callers ask only when
    the head revision has moved past theirs."""
    await client.connect()
    request = aetcd.rpc.RangeRequest(key=prefix, range_end=aetcd.utils.prefix_range_end(prefix), keys_only=True,
                                     min_mod_revision=revision + 1)
    reply = await _range(client, request, timeout)
    return min((kv.mod_revision for kv in reply.kvs), default=0)
