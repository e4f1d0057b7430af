"""A TCP proxy on loopback that a test can cut and restore, to take a
client away from etcd without stopping etcd, or stall (bytes stop moving,
connections stay open: a hung peer or a network black hole) and resume."""

from __future__ import annotations

import socket
import threading


class Proxy:
    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.lock = threading.Lock()
        self.conns: list[socket.socket] = []
        self.flowing = threading.Event()
        self.flowing.set()
        self.listener = self._listen(0)
        self.port = self.listener.getsockname()[1]
        self._serve()

    def _listen(self, port: int) -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(64)
        return s

    def _serve(self) -> None:
        listener = self.listener

        def accept():
            while True:
                try:
                    client, _ = listener.accept()
                except OSError:
                    return
                try:
                    upstream = socket.create_connection(self.target)
                except OSError:
                    client.close()
                    continue
                with self.lock:
                    self.conns += [client, upstream]
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(a, b), daemon=True).start()
        threading.Thread(target=accept, daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                self.flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Close every connection and stop accepting new ones."""
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def stall(self) -> None:
        """Stop moving bytes, in both directions, on every connection (new
        ones too), without closing any."""
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def restore(self) -> None:
        self.listener = self._listen(self.port)
        self._serve()
