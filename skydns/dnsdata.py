"""The plain data of DNS answers: record, question and reply tuples, and
the numbers of the types, classes and rcodes skydns deals in.

Shared by the answer logic, the codec and the DNSSEC signer, so none of them
needs a DNS library's classes to talk to the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

# types and classes, by number, as on the wire
A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, OPT, DNSKEY, ANY = 1, 2, 5, 6, 12, 15, 16, 28, 33, 41, 48, 255
IN, CH = 1, 3
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5

#: (store node, version) pairs: what an answer read, so a cache can tell when it changes
Deps = list[tuple[Any, int]]


class RR(NamedTuple):
    """One resource record; ``data`` is the IP or target name for A, AAAA,
    CNAME, NS and PTR, a tuple for SRV (priority, weight, port, target), MX
    (preference, host), TXT (strings) and SOA (mname, rname, serial,
    refresh, retry, expire, minimum)."""

    name: str
    type: int
    ttl: int
    data: Any  # its shape follows the type, as above
    cls: int = IN


class Question(NamedTuple):
    name: str
    type: int
    cls: int = IN


@dataclass(slots=True)
class Reply:
    rcode: int = NOERROR
    aa: bool = True
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)
    #: send the whole question to the forwarders instead
    forward: bool = False
    #: (name, type) lookups outside the zone this reply waits for
    needs: set[tuple[str, int]] = field(default_factory=set)
    #: metrics label: auth, recursive, reverse, stub, cache
    system: str = "auth"
    #: (store node, version) pairs this reply was read from; None: not from the store
    deps: Deps | None = None
    #: TTLs that count down (etcd leases): the packet cannot be reused as is
    volatile: bool = False
    #: authenticated data (a signed reply)
    ad: bool = False


External = Mapping[tuple[str, int], list[RR]]
