"""The UDP server (skydns.transport.UdpServer) on both of its paths -- the C
batch (skydns._udp: recvmmsg/sendmmsg) and the Python loop (SKYDNS_PURE) --
held to the same expectations, in this process, with a handler that only
echoes; then the C batch alone: its bounds, its errors, its references.

Loopback UDP never refuses a send (the loopback device frees the send
buffer as it takes the packet), so the send-queue test runs the same server
on a Unix datagram socket, where a client that does not read fills a small
send buffer and the kernel says EAGAIN.
"""

import asyncio
import logging
import gc
import os
import contextlib
import socket
import sys
import time

import pytest

from skydns import transport
from skydns.transport import UdpServer

try:
    import uvloop
except ImportError:  # pragma: no cover - a dependency of the project
    uvloop = None

TIMEOUT = 5.0


class Boom(Exception):
    pass


class Echo:
    """A handler: ``re:`` + the question; other answers by prefix."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def handle(self, data: bytes, tcp: bool):
        assert tcp is False
        self.seen.append(data)
        if data.startswith(b"none"):
            return None
        if data.startswith(b"raise"):
            raise Boom(data)
        if data.startswith(b"later"):
            return self._later(data)
        if data.startswith(b"size"):
            return b"len:%d" % len(data)
        if data.startswith(b"long"):
            return b"x" * 70_000  # more than a datagram holds: the kernel refuses it
        return b"re:" + data

    async def _later(self, data: bytes) -> bytes:
        await asyncio.sleep(0.2)
        return b"late:" + data


@pytest.fixture(params=["c", "python"])
def path(request, monkeypatch):
    """Which path UdpServer takes; "c" fails when skydns._udp is not built."""
    if request.param == "python":
        monkeypatch.setenv("SKYDNS_PURE", "1")
    else:
        monkeypatch.delenv("SKYDNS_PURE", raising=False)
    return request.param


def server(path: str, handler, sock: socket.socket) -> UdpServer:
    srv = UdpServer(handler, sock)
    assert (srv.batch is not None) == (path == "c"), "the C batch is not built: make setup"
    return srv


def client(family=socket.AF_INET) -> socket.socket:
    c = socket.socket(family, socket.SOCK_DGRAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    c.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    c.settimeout(TIMEOUT)
    return c


def exchange(c: socket.socket, to, questions: list[bytes], until) -> list[bytes]:
    """Send every question at once, then read replies until ``until(replies)``."""
    for q in questions:
        c.sendto(q, to)
    got: list[bytes] = []
    while not until(got):
        got.append(c.recv(65535))
    return got


async def in_thread(fn, *args):
    return await asyncio.to_thread(fn, *args)


@contextlib.asynccontextmanager
async def served(path, family=socket.AF_INET, handler=None, client_family=None):
    """(server, its handler, its address, a client socket), all closed after."""
    srv, handler, addr = await serve(path, family, handler)
    c = client(family if client_family is None else client_family)
    try:
        yield srv, handler, addr, c
    finally:
        c.close()
        srv.close()


async def serve(path, family=socket.AF_INET, handler=None):
    handler = handler or Echo()
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    srv = server(path, handler, transport.udp_socket(host, 0))
    return srv, handler, srv.sock.getsockname()


@pytest.mark.parametrize("n", [1, 2, 63, 64, 65, 256, 257, 300])
async def test_questions_sent_together_each_get_their_answer(path, n):
    async with served(path) as (srv, handler, addr, c):
        questions = [b"q%05d" % i for i in range(n)]
        got = await in_thread(exchange, c, addr, questions, lambda g: len(g) == n)
        assert sorted(got) == [b"re:" + q for q in questions]


def test_on_uvloop_too(path):
    """skydns runs on uvloop: the same server, the loop calling Batch.drain itself."""
    async def go():
        async with served(path) as (srv, _, addr, c):
            questions = [b"u%03d" % i for i in range(300)]
            got = await in_thread(exchange, c, addr, questions, lambda g: len(g) == 300)
            assert sorted(got) == [b"re:" + q for q in questions]
    assert uvloop is not None
    uvloop.run(go())


async def test_ipv6(path):
    async with served(path, socket.AF_INET6) as (srv, _, addr, c):
        questions = [b"v6-%03d" % i for i in range(100)]
        got = await in_thread(exchange, c, addr, questions, lambda g: len(g) == 100)
        assert sorted(got) == [b"re:" + q for q in questions]


async def test_an_awaitable_is_answered_later(path):
    srv, handler, addr = await serve(path)
    c, c6 = client(), client(socket.AF_INET6)
    srv6 = server(path, handler, transport.udp_socket("::1", 0))
    try:
        questions = [b"later%02d" % i if i % 3 == 0 else b"now%02d" % i for i in range(30)]
        got = await in_thread(exchange, c, addr, questions, lambda g: len(g) == 30)
        assert sorted(got) == sorted(b"late:" + q if q.startswith(b"later") else b"re:" + q for q in questions)
        assert all(g.startswith(b"re:") for g in got[:20])  # the ready replies did not wait for the late ones
        got6 = await in_thread(exchange, c6, srv6.sock.getsockname(), [b"later-v6"], lambda g: len(g) == 1)
        assert got6 == [b"late:later-v6"]
        assert not srv.tasks
    finally:
        c.close()
        c6.close()
        srv.close()
        srv6.close()


async def test_none_sends_nothing(path):
    async with served(path) as (srv, handler, addr, c):
        got = await in_thread(exchange, c, addr, [b"none1", b"a", b"none2", b"b"], lambda g: len(g) == 2)
        assert sorted(got) == [b"re:a", b"re:b"]
        c.settimeout(0.2)
        with pytest.raises(socket.timeout):
            c.recv(65535)
        assert handler.seen == [b"none1", b"a", b"none2", b"b"]


async def test_a_handler_that_raises_does_not_stop_the_server(path):
    loop = asyncio.get_running_loop()
    reported: list[BaseException] = []
    loop.set_exception_handler(lambda _loop, ctx: reported.append(ctx.get("exception")))
    srv, handler, addr = await serve(path)
    c = client()
    try:
        want = {b"re:a", b"re:b"}
        got = await in_thread(exchange, c, addr, [b"a", b"b", b"raise", b"c"], lambda g: want <= set(g))
        assert want <= set(got)  # what was made before the exception went out
        got = await in_thread(exchange, c, addr, [b"after"], lambda g: b"re:after" in g)
        assert b"re:after" in got
        assert any(isinstance(e, Boom) for e in reported), reported  # the loop was told
    finally:
        loop.set_exception_handler(None)
        c.close()
        srv.close()


async def test_a_datagram_longer_than_size_is_dropped(path, monkeypatch):
    monkeypatch.setattr(UdpServer, "SIZE", 512)
    async with served(path) as (srv, handler, addr, c):
        questions = [b"size" + b"." * 508, b"size" + b"." * 509, b"size" + b"." * 3000, b"a"]
        got = await in_thread(exchange, c, addr, questions, lambda g: b"re:a" in g)
        assert got == [b"len:512", b"re:a"]
        assert handler.seen == [questions[0], b"a"]


async def test_the_largest_datagram_arrives_whole(path):
    async with served(path) as (srv, handler, addr, c):
        big = b"size" + b"." * (65507 - 4)  # the most an IPv4 UDP datagram carries
        got = await in_thread(exchange, c, addr, [big, b"a"], lambda g: len(g) == 2)
        assert sorted(got) == [b"len:65507", b"re:a"]
        assert handler.seen[0] == big


async def test_a_reply_the_kernel_refuses_is_skipped(path):
    """A reply no datagram holds (EMSGSIZE) is dropped; the others in its burst go."""
    async with served(path) as (srv, _, addr, c):
        questions = [b"a", b"long", b"b", b"long", b"c"]
        got = await in_thread(exchange, c, addr, questions, lambda g: len(g) == 3)
        assert sorted(got) == [b"re:a", b"re:b", b"re:c"]


async def test_a_reply_to_a_closed_client_does_not_stop_the_server(path):
    srv, _, addr = await serve(path)
    gone = client()
    gone.sendto(b"later-gone", addr)  # answered once the client is gone: the port is unreachable
    gone.close()
    await asyncio.sleep(0.1)
    c = client()
    try:
        got = await in_thread(exchange, c, addr, [b"a", b"b"], lambda g: len(g) == 2)
        assert sorted(got) == [b"re:a", b"re:b"]
    finally:
        c.close()
        srv.close()


def unix_pair(tag: str, sndbuf: int) -> tuple[socket.socket, socket.socket]:
    """A server datagram socket with a small send buffer, and a client
    connected to it (so only that buffer limits the replies), both in the
    abstract namespace."""
    name = f"\0skydns-test-udp-{os.getpid()}-{tag}-{time.monotonic_ns()}"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    s.bind(name)
    s.setblocking(False)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    c.bind(name + "-client")
    c.connect(name)
    c.settimeout(TIMEOUT)
    return s, c


async def test_replies_the_kernel_will_not_take_wait_in_the_queue(path):
    handler = Echo()
    sock, c = unix_pair(path, 4096)
    srv = server(path, handler, sock)
    n = 400
    try:
        questions = [b"q%04d-" % i + b"." * 200 for i in range(n)]
        await in_thread(lambda: [c.send(q) for q in questions])  # and no reading yet
        deadline = time.monotonic() + TIMEOUT
        while len(handler.seen) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert len(handler.seen) == n
        assert srv.queue, "the kernel took every reply: nothing was refused"
        assert srv.batch is None or srv.batch.blocked
        got = await in_thread(exchange, c, None, [], lambda g: len(g) == n)
        assert sorted(got) == [b"re:" + q for q in questions]
        await asyncio.sleep(0.05)
        assert not srv.queue
        assert srv.batch is None or not srv.batch.blocked
        # and the server answers straight away again
        got = await in_thread(lambda: (c.send(b"again"), c.recv(100))[1])
        assert got == b"re:again"
    finally:
        c.close()
        srv.close()


def test_the_c_batch_is_built_and_used(monkeypatch):
    """Fails (never skips) when skydns._udp is missing: make setup builds it."""
    monkeypatch.delenv("SKYDNS_PURE", raising=False)
    from skydns import _udp  # an ImportError here means the extension was not compiled

    assert transport.batch_module() is _udp

    async def go():
        srv = UdpServer(Echo(), transport.udp_socket("127.0.0.1", 0))
        try:
            return type(srv.batch)
        finally:
            srv.close()
    assert asyncio.run(go()) is _udp.Batch
    monkeypatch.setenv("SKYDNS_PURE", "1")
    assert transport.batch_module() is None


def test_a_batch_older_than_its_c_source_is_not_used(monkeypatch, caplog):
    """An edited _udp.c (native.json keeps the digest of what was built)
    is not run from its old build: datagrams are read one by one, and the
    log says to rebuild."""
    monkeypatch.delenv("SKYDNS_PURE", raising=False)
    from skydns_common import native

    real = native._digest
    monkeypatch.setattr(native, "_digest", lambda path: "edited" if path == native.UDP_SOURCE else real(path))
    monkeypatch.setattr(transport, "_warned_stale", False)
    with caplog.at_level(logging.WARNING, logger="skydns.transport"):
        assert transport.batch_module() is None
    assert "_udp.c changed" in caplog.text


# -- the C batch alone ------------------------------------------------------

def _udp():
    from skydns import _udp
    return _udp


class Calls:
    """handle and defer for a Batch driven by hand."""

    def __init__(self, replies=None) -> None:
        self.deferred: list[tuple[object, object]] = []
        self.replies = replies or {}
        self.seen: list[bytes] = []

    def handle(self, data, tcp):
        self.seen.append(data)
        out = self.replies.get(data[:1], b"re:" + data)
        if isinstance(out, BaseException):
            raise out
        return out

    def defer(self, obj, addr):
        self.deferred.append((obj, addr))


def pair(family=socket.AF_INET):
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((host, 0))
    s.setblocking(False)
    return s, client(family)


def unix_socketpair() -> tuple[socket.socket, socket.socket]:
    """A server and a client whose datagrams are queued by the time send
    returns (on loopback they may wait for a softirq): for tests that count."""
    s, c = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setblocking(False)
    c.settimeout(TIMEOUT)
    return s, c


def drain_until(b, done) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not done():
        assert time.monotonic() < deadline, "the datagrams did not come"
        b.drain()


def test_a_drain_reads_at_most_rounds_full_bursts():
    s, c = unix_socketpair()
    calls = Calls()
    b = _udp().Batch(s.fileno(), calls.handle, calls.defer, burst=8, rounds=3)
    try:
        for i in range(30):
            c.send(b"%02d" % i)
        assert b.drain() == 24
        assert b.drain() == 6
        assert b.drain() == 0
        got = sorted(c.recv(100) for _ in range(30))
        assert got == sorted(b"re:%02d" % i for i in range(30))
    finally:
        b.close()
        s.close()
        c.close()


def test_every_length_up_to_size_arrives_whole():
    """Byte for byte, each in its own buffer; one longer than size is dropped."""
    s, c = unix_socketpair()
    seen: list[bytes] = []
    b = _udp().Batch(s.fileno(), lambda data, tcp: seen.append(data), print, burst=4, size=1000)
    try:
        lengths = [1, 511, 512, 513, 999, 1000, 1001, 700]
        sent = [(bytes(range(256)) * 4)[i % 7:][:n] for i, n in enumerate(lengths)]
        for q in sent:
            c.send(q)
        assert b.drain() == 8
        assert seen == [q for q in sent if len(q) <= 1000]
    finally:
        b.close()
        s.close()
        c.close()


def test_defer_gets_what_is_not_bytes_with_the_senders_address():
    for family in (socket.AF_INET, socket.AF_INET6):
        s, c = pair(family)
        marker = object()
        calls = Calls({b"x": marker})
        b = _udp().Batch(s.fileno(), calls.handle, calls.defer)
        try:
            c.sendto(b"x1", s.getsockname())
            c.sendto(b"a", s.getsockname())
            drain_until(b, lambda: len(calls.seen) == 2)
            assert c.recv(100) == b"re:a"
            [(obj, addr)] = calls.deferred
            assert obj is marker
            assert addr[:2] == c.getsockname()[:2]
            assert len(addr) == (4 if family == socket.AF_INET6 else 2)
            s.sendto(b"through python", addr)  # what socket.sendto takes
            assert c.recv(100) == b"through python"
        finally:
            b.close()
            s.close()
            c.close()


def test_a_raise_sends_what_was_made_and_the_next_drain_goes_on():
    s, c = unix_socketpair()
    calls = Calls({b"!": Boom("no")})
    b = _udp().Batch(s.fileno(), calls.handle, calls.defer)
    try:
        for q in (b"a", b"b", b"!", b"c"):
            c.send(q)
        with pytest.raises(Boom):
            b.drain()
        assert sorted([c.recv(100), c.recv(100)]) == [b"re:a", b"re:b"]
        assert calls.seen == [b"a", b"b", b"!"]  # the rest of that burst is dropped
        c.send(b"d")
        assert b.drain() == 1
        assert c.recv(100) == b"re:d"
    finally:
        b.close()
        s.close()
        c.close()


def test_misuse_is_an_error_not_a_crash():
    s, c = unix_socketpair()
    udp = _udp()
    with pytest.raises(ValueError):
        udp.Batch(s.fileno(), print, print, burst=0)
    with pytest.raises(ValueError):
        udp.Batch(s.fileno(), print, print, burst=udp.MAX_BURST + 1)
    with pytest.raises(ValueError):
        udp.Batch(s.fileno(), print, print, size=udp.MAX_SIZE + 1)
    with pytest.raises(TypeError):
        udp.Batch(s.fileno(), None, print)
    holder: list = []

    def reenter(data, tcp):
        holder[0].drain()

    def close_inside(data, tcp):
        holder[0].close()

    for handle, error in ((reenter, RuntimeError), (close_inside, RuntimeError)):
        b = udp.Batch(s.fileno(), handle, print)
        holder[:] = [b]
        c.send(b"x")
        with pytest.raises(error):
            b.drain()
        b.close()
    with pytest.raises(ValueError):
        b.drain()
    closed = udp.Batch(s.fileno(), print, print)
    s.close()
    with pytest.raises(OSError):
        closed.drain()
    c.close()


def test_a_cycle_through_the_batch_is_collected():
    s, _c = pair()

    class Owner:
        def handle(self, data, tcp):
            return None

    owner = Owner()
    owner.batch = _udp().Batch(s.fileno(), owner.handle, owner.handle)  # owner -> batch -> owner
    gc.collect()
    import weakref
    ref = weakref.ref(owner)
    del owner
    gc.collect()
    assert ref() is None
    s.close()
    _c.close()


def test_references_are_released_on_every_path():
    """Many datagrams through every path -- a reply, None, an object for
    defer, a raise, a truncated datagram, a reply too long to send, and (on
    a Unix socket with a small send buffer) replies the kernel refused: the
    reference counts of what handle returns, of handle and of defer come
    back where they were, and the process does not grow."""
    reply, late = b"reply", object()
    routes = {b"n": None, b"d": late, b"l": b"x" * 70_000}
    counts = {"handle": 0, "defer": 0, "refused": 0}

    def handle(data, tcp):
        counts["handle"] += 1
        if data[:1] == b"!":
            raise Boom("x")
        return routes.get(data[:1], reply)

    def defer(obj, addr):
        counts["defer"] += 1
        counts["refused"] += obj is reply

    kinds = [k + b"-question" for k in (b"r", b"n", b"d", b"r", b"l", b"r", b"T" + b"." * 300, b"r")]
    udp_server, udp_client = pair()
    unix_server, unix_client = unix_pair("refs", 4096)
    unix_server.connect(unix_client.getsockname())  # so that only the send buffers limit either side
    udp_client.setblocking(False)
    unix_client.setblocking(False)
    batches = [(_udp().Batch(udp_server.fileno(), handle, defer, burst=64, size=256), udp_client,
                udp_server.getsockname()),
               (_udp().Batch(unix_server.fileno(), handle, defer, burst=64, size=256), unix_client, None)]

    def run(rounds: int) -> None:
        for rnd in range(rounds):
            for b, c, to in batches:
                for i in range(100):
                    q = b"!-question" if i == 90 else kinds[(rnd + i) % len(kinds)]  # the rest of its burst is lost
                    c.sendto(q, to) if to else c.send(q)
                while True:
                    try:
                        if b.drain() == 0:
                            break
                    except Boom:
                        pass
                b.blocked = False
                while True:  # the client reads what came back
                    try:
                        c.recv(65535)
                    except BlockingIOError:
                        break

    try:
        run(100)  # warm: every cache and free list at its size
        gc.collect()
        before = (sys.getrefcount(reply), sys.getrefcount(late), sys.getrefcount(handle), sys.getrefcount(defer))
        rss, blocks = _rss_kb(), sys.getallocatedblocks()
        run(1500)  # 300,000 datagrams
        gc.collect()
        after = (sys.getrefcount(reply), sys.getrefcount(late), sys.getrefcount(handle), sys.getrefcount(defer))
        assert after == before
        assert counts["handle"] > 250_000 and counts["defer"] > 0 and counts["refused"] > 0, counts
        assert sys.getallocatedblocks() - blocks < 1000, (blocks, sys.getallocatedblocks())  # objects
        assert _rss_kb() - rss < 2048, (rss, _rss_kb())  # kB
    finally:
        for b, c, _ in batches:
            b.close()
            c.close()
        udp_server.close()
        unix_server.close()


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")
