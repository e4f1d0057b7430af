"""A tiny HTTP endpoint for probes and scrapes: /healthz, /readiness, /metrics.

Kubernetes probes and Prometheus only need GET with a status code and a
body, so this is a few lines over asyncio streams rather than a web
framework.  ``ready`` is a callable so readiness is read at request time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)


async def serve(host: str, port: int, ready: Callable[[], bool], registry: CollectorRegistry | None,
                metrics_path: str = "/metrics",
                extra: dict[str, Callable[[], str]] | None = None) -> asyncio.AbstractServer:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = line.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else "/"
            status, ctype, body = route(path)
            head = (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n")
            writer.write(head.encode() + body)
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    def route(path: str) -> tuple[str, str, bytes]:
        if path == "/healthz":
            return "200 OK", "text/plain", b"ok\n"
        if path == "/readiness":
            if ready():
                return "200 OK", "text/plain", b"ready\n"
            return "503 Service Unavailable", "text/plain", b"not ready\n"
        if path == metrics_path and registry is not None:
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(registry)
        if extra and path in extra:
            return "200 OK", "application/json", extra[path]().encode()
        return "404 Not Found", "text/plain", b"not found\n"

    server = await asyncio.start_server(handle, host, port)
    log.info("health endpoints on http://%s:%d (/healthz, /readiness%s)", host, port,
             f", {metrics_path}" if registry is not None else "")
    return server
