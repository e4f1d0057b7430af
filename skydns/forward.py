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

from . import answer as ans
from . import wire
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
                      servers: tuple[str, ...] | None = None) -> bytes | None:
        """Relay a client's packet (to ``servers`` when given: a stub zone's);
        the upstream reply with the client's ID, or None when no server
        answered usefully."""
        if servers is None and self.refuses(name):
            return None
        client_id = packet[:2]
        for server in servers or self._servers():
            reply = await self._try(server, packet, tcp)
            if reply is not None:
                return client_id + reply[2:]
        return None

    async def lookup(self, name: str, qtype: int) -> bytes | None:
        """The upstream reply to our own question about a name outside the
        zone (to complete a CNAME chain), or None."""
        return await self.forward(wire.question_packet(name, qtype, 0), name, False)

    async def _try(self, server: str, packet: bytes, tcp: bool) -> bytes | None:
        timeout = self._config().read_timeout
        qid = secrets.randbits(16)
        out = struct.pack("!H", qid) + packet[2:]
        host, port = split_hostport(server)
        try:
            if tcp:
                reply = await asyncio.wait_for(_tcp_exchange(host, port, out), timeout)
            else:
                reply = await asyncio.wait_for(_udp_exchange(host, port, out), timeout)
                if reply is not None and len(reply) > 3 and reply[2] & 0x02:  # TC: retry over TCP
                    reply = await asyncio.wait_for(_tcp_exchange(host, port, out), timeout)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
            log.debug("forwarder %s failed: %r", server, exc)
            return None
        if reply is None or len(reply) < 12 or reply[:2] != out[:2]:
            return None
        if not _same_question(out, reply):
            return None
        if reply[3] & 0x0F == ans.SERVFAIL:
            return None
        return reply


def _same_question(query: bytes, reply: bytes) -> bool:
    # the question section starts right after the header in both
    end = 12
    while end < len(query) and query[end] != 0:
        end += query[end] + 1
    end += 5
    return reply[12:end].lower() == query[12:end].lower()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, qid: bytes) -> None:
        self.qid = qid
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr) -> None:
        if data[:2] == self.qid and not self.done.done():
            self.done.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed"))


async def _udp_exchange(host: str, port: int, packet: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: _Udp(packet[:2]), remote_addr=(host, port))
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
