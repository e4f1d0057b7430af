"""UDP and TCP listeners in front of the handler.

UDP answers in the reader callback when the handler has the reply at hand
and schedules a task only for forwarded questions.  A cached answer costs
less than the system calls around it, so the reading and sending are done
in batches by the C extension ``skydns._udp`` (recvmmsg/sendmmsg, which
Python's socket module lacks): one call from the event loop reads up to 64
datagrams, gives each to :meth:`Handler.handle` and sends the replies in one
go.  Without the extension (not compiled) or with ``SKYDNS_PURE`` set, the
same happens in Python, one recvfrom and one sendto per packet.  TCP takes
length-prefixed questions, several per connection, answers them in order,
and closes a connection that stays idle (or sends a message slowly) longer
than the idle timeout; the number of open TCP connections is bounded.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import struct
from types import ModuleType
from typing import TYPE_CHECKING

from skydns_common import native

from .handler import Handler

if TYPE_CHECKING:
    from ._udp import Batch

log = logging.getLogger(__name__)

MAX_TCP_CONNECTIONS = 1000
_warned_stale = False


def batch_module() -> ModuleType | None:
    """skydns._udp, or None when it is not built, is older than its C
    source, or SKYDNS_PURE is set."""
    global _warned_stale
    if native.pure_asked():
        return None
    try:
        from . import _udp
    except ImportError:
        return None
    if not native.udp_current():
        if not _warned_stale:
            _warned_stale = True
            log.warning("skydns/_udp.c changed since skydns._udp was built: UDP is read "
                        "one datagram at a time (make setup builds it again)")
        return None
    return _udp


class UdpServer:
    """Reads the socket directly from a reader callback.

    One wake-up of the event loop drains up to BURST datagrams (ROUNDS
    times BURST with the C batch, while full bursts come in): a datagram
    protocol costs a callback and a transport call per packet, which on a
    cached answer is several times the answer itself.  The C batch sends
    each burst's replies with one sendmmsg; the Python loop sends them with
    plain sendto calls, BATCH at a time (only when questions are already
    queued: a lone question is answered at once).  A datagram longer than SIZE is dropped.
    A reply the kernel will not take at once (a full send buffer) waits in
    a queue flushed when the socket is writable again; while it waits, new
    replies join it.
    """

    BURST = 64
    ROUNDS = 4
    BATCH = 32
    QUEUE = 4096
    SIZE = 65535

    def __init__(self, handler: Handler, sock: socket.socket) -> None:
        self.handler = handler
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.tasks: set[asyncio.Task] = set()
        self.queue: collections.deque = collections.deque()
        udp = batch_module()
        self.batch: Batch | None = None
        if udp is not None:  # the loop calls the C batch itself: no Python frame per wake-up
            self.batch = udp.Batch(sock.fileno(), handler.handle, self._defer, self.BURST, self.SIZE, self.ROUNDS)
        self.loop.add_reader(sock.fileno(), self._readable if self.batch is None else self.batch.drain)

    def _readable(self) -> None:
        recv = self.sock.recvfrom
        handle = self.handler.handle
        size = self.SIZE
        ready: list[tuple[bytes, object]] = []
        try:
            for _ in range(self.BURST):
                try:
                    data, addr = recv(size + 1)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError as exc:  # an ICMP error from an earlier send
                    log.debug("udp error: %r", exc)
                    continue
                if len(data) > size:
                    continue
                out = handle(data, False)
                if out is None:
                    continue
                if not isinstance(out, bytes):
                    self._schedule(out, addr)
                    continue
                ready.append((out, addr))
                if len(ready) >= self.BATCH:
                    self._flush(ready)
        finally:
            self._flush(ready)

    def _flush(self, ready: list) -> None:
        # replies go out back to back: a client woken by the first is still
        # awake for the next (one wake-up per batch, not per reply)
        for out, addr in ready:
            self.send(out, addr)
        ready.clear()

    def _defer(self, out, addr) -> None:
        """What the C batch leaves to Python: a forwarded question's
        awaitable, or a reply the kernel refused."""
        if isinstance(out, bytes):
            self._enqueue(out, addr)
        else:
            self._schedule(out, addr)

    def _schedule(self, pending, addr) -> None:
        task = asyncio.ensure_future(self._later(pending, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def send(self, out: bytes, addr) -> None:
        if not self.queue:
            try:
                self.sock.sendto(out, addr)
                return
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as exc:
                log.debug("udp send error: %r", exc)
                return
        self._enqueue(out, addr)

    def _enqueue(self, out: bytes, addr) -> None:
        if not self.queue:
            self.loop.add_writer(self.sock.fileno(), self._writable)
            if self.batch is not None:
                self.batch.blocked = True  # the C batch queues its replies here too
        if len(self.queue) < self.QUEUE:
            self.queue.append((out, addr))

    def _writable(self) -> None:
        while self.queue:
            out, addr = self.queue[0]
            try:
                self.sock.sendto(out, addr)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("udp send error: %r", exc)
            self.queue.popleft()
        self.loop.remove_writer(self.sock.fileno())
        if self.batch is not None:
            self.batch.blocked = False

    async def _later(self, pending, addr) -> None:
        out = await pending
        if out is not None and self.sock.fileno() != -1:
            self.send(out, addr)

    def close(self) -> None:
        if self.sock.fileno() != -1:
            self.loop.remove_reader(self.sock.fileno())
            self.loop.remove_writer(self.sock.fileno())
            if self.batch is not None:
                self.batch.close()
            self.sock.close()


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
                if out is not None and not isinstance(out, bytes):
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
    """Listen on UDP and TCP; returns (udp server, tcp server)."""
    udp = UdpServer(handler, udp_socket(host, port, reuse_port))
    tcp = await asyncio.start_server(TcpServer(handler, idle_timeout).serve,
                                     sock=tcp_socket(host, port, reuse_port))
    return udp, tcp
