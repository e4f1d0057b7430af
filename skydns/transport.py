"""UDP and TCP listeners in front of the handler.

UDP answers in the callback when the handler has the reply at hand and
schedules a task only for forwarded questions.  TCP takes length-prefixed
questions, several per connection, answers them in order, and closes a
connection that stays idle (or sends a message slowly) longer than the idle
timeout; the number of open TCP connections is bounded.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import struct

from .handler import Handler

log = logging.getLogger(__name__)

MAX_TCP_CONNECTIONS = 1000


class UdpServer(asyncio.DatagramProtocol):
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.fast = handler.fast
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task] = set()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        out = self.fast(data, False)
        if out is not None:
            self.transport.sendto(out, addr)
            return
        out = self.handler.build(data, False)
        if out is None:
            return
        if isinstance(out, bytes):
            self.transport.sendto(out, addr)
            return
        task = asyncio.ensure_future(self._later(out, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _later(self, pending, addr) -> None:
        out = await pending
        if out is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(out, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp error: %r", exc)


class TcpServer:
    def __init__(self, handler: Handler, idle_timeout: float) -> None:
        self.handler = handler
        self.idle_timeout = idle_timeout
        self.open = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.open >= MAX_TCP_CONNECTIONS:
            writer.close()
            return
        self.open += 1
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), self.idle_timeout)
                    (n,) = struct.unpack("!H", head)
                    data = await asyncio.wait_for(reader.readexactly(n), self.idle_timeout)
                except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                out = self.handler.handle(data, True)
                if inspect.isawaitable(out):
                    out = await out
                if out is None:
                    continue
                writer.write(struct.pack("!H", len(out)) + out)
                await asyncio.wait_for(writer.drain(), self.idle_timeout)
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def udp_socket(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_DGRAM)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if _family(host) == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


def tcp_socket(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if _family(host) == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def start(handler: Handler, host: str, port: int, idle_timeout: float, reuse_port: bool = False):
    """Listen on UDP and TCP; returns (udp transport, tcp server)."""
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(lambda: UdpServer(handler),
                                                 sock=udp_socket(host, port, reuse_port))
    tcp = await asyncio.start_server(TcpServer(handler, idle_timeout).serve,
                                     sock=tcp_socket(host, port, reuse_port))
    return udp, tcp
