"""Addresses as flags and records spell them: one home for host:port splitting.

skydns (``-addr``, ``-nameservers``, stub zones), kube2sky (the kube-dns
ConfigMap's ``stubDomains``) and skydnsctl read the same spellings.
"""

from __future__ import annotations


def split_hostport(addr: str, default_port: int = 53) -> tuple[str, int]:
    """``127.0.0.1:53``, ``[::1]:53``, ``::1``, ``:53`` -> (host, port)."""
    if addr.startswith("["):
        host, _, rest = addr[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if addr.count(":") > 1:
        return addr, default_port
    host, sep, port = addr.rpartition(":")
    if not sep:
        return addr, default_port
    return host or "0.0.0.0", int(port)
