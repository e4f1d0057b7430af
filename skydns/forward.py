"""Sending questions outside the domain to the configured nameservers.

Every try has ``-rtimeout``; a timeout, an error or a SERVFAIL moves on to
the next server, and when all have failed the caller answers SERVFAIL at
once (the original sent nothing and let the client time out).  Each
forwarded question goes out with a fresh random ID from a fresh socket, and
a reply is accepted only when its ID and question match.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import struct
from typing import Callable

from . import dnsdata as dd
from . import wire
from .codec import ID_LEN, rcode, renumbered, same_question, truncated
from .config import Config
from skydns_common.addr import split_hostport

log = logging.getLogger(__name__)


class Forwarder:
    def __init__(self, config: Callable[[], Config]) -> None:
        self._config = config
        self._turn = itertools.count()

    def refuses(self, name: str) -> bool:
        cfg = self._config()
        labels = len([p for p in name.rstrip(".").split(".") if p])
        return cfg.no_rec or not cfg.nameservers or labels < cfg.ndots

    def _servers(self) -> list[str]:
        cfg = self._config()
        servers = list(cfg.nameservers)
        if cfg.ns_rotate and len(servers) > 1:
            k = next(self._turn) % len(servers)
            servers = servers[k:] + servers[:k]
        return servers

    async def forward(self, packet: bytes, name: str, tcp: bool,
                      servers: tuple[str, ...] | None = None, whole: bool = False) -> bytes | None:
        """Relay a client's packet (to ``servers`` when given: a stub zone's);
        the upstream reply with the client's ID, or None when no server
        answered usefully.  A truncated UDP reply is relayed as it is (the
        client asks again over TCP) unless ``whole``: then it is asked
        again over TCP."""
        if servers is None and self.refuses(name):
            return None
        for server in servers or self._servers():
            reply = await self._try(server, packet, tcp, whole)
            if reply is not None:
                return packet[:ID_LEN] + reply[ID_LEN:]
        return None

    async def lookup(self, name: str, qtype: int) -> bytes | None:
        """The upstream reply to our own question about a name outside the
        zone (to complete a CNAME chain), or None."""
        return await self.forward(wire.question_packet(name, qtype, 0), name, False, whole=True)

    async def _try(self, server: str, packet: bytes, tcp: bool, whole: bool) -> bytes | None:
        timeout = self._config().read_timeout
        out = renumbered(packet, secrets.randbits(16))
        host, port = split_hostport(server)
        try:
            if tcp:
                reply = await asyncio.wait_for(_tcp_exchange(host, port, out), timeout)
            else:
                reply = await asyncio.wait_for(_udp_exchange(host, port, out), timeout)
                if whole and reply is not None and truncated(reply):  # retry over TCP
                    reply = await asyncio.wait_for(_tcp_exchange(host, port, out), timeout)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
            log.debug("forwarder %s failed: %r", server, exc)
            return None
        if reply is None or len(reply) < 12 or reply[:ID_LEN] != out[:ID_LEN]:
            return None
        if not same_question(out, reply):
            return None
        if rcode(reply) == dd.SERVFAIL:
            return None
        return reply


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, query: bytes) -> None:
        self.query = query
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr) -> None:
        if data[:ID_LEN] == self.query[:ID_LEN] and not self.done.done():
            self.done.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed"))


async def _udp_exchange(host: str, port: int, packet: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: _Udp(packet), remote_addr=(host, port))
    try:
        transport.sendto(packet)
        return await proto.done
    finally:
        transport.close()


async def _tcp_exchange(host: str, port: int, packet: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(struct.pack("!H", len(packet)) + packet)
        await writer.drain()
        (n,) = struct.unpack("!H", await reader.readexactly(2))
        return await reader.readexactly(n)
    finally:
        writer.close()
