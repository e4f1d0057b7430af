"""The plain data of DNS answers: record, question and reply tuples, and
the numbers of the types, classes and rcodes skydns deals in.

Shared by the answer logic, the codec and the DNSSEC signer, so none of them
needs a DNS library's classes to talk to the others.
"""

from __future__ import annotations

from typing import Any, Final, Mapping

# types and classes, by number, as on the wire (Final: compiled code reads
# them as constants, not from the module's dictionary)
A: Final = 1
NS: Final = 2
CNAME: Final = 5
SOA: Final = 6
PTR: Final = 12
MX: Final = 15
TXT: Final = 16
AAAA: Final = 28
SRV: Final = 33
OPT: Final = 41
DNSKEY: Final = 48
ANY: Final = 255
IN: Final = 1
CH: Final = 3
NOERROR: Final = 0
FORMERR: Final = 1
SERVFAIL: Final = 2
NXDOMAIN: Final = 3
NOTIMP: Final = 4
REFUSED: Final = 5

#: (store node, version) pairs: what an answer read, so a cache can tell when it changes
Deps = list[tuple[Any, int]]


class RR:
    """One resource record; ``data`` is the IP or target name for A, AAAA,
    CNAME, NS and PTR, a tuple for SRV (priority, weight, port, target), MX
    (preference, host), TXT (strings) and SOA (mname, rname, serial,
    refresh, retry, expire, minimum), or the rdata in wire form (bytes).
    Compared by value; a plain class rather than a NamedTuple, whose
    ``__new__`` is a Python function even in compiled code."""

    __slots__ = ("name", "type", "ttl", "data", "cls")

    def __init__(self, name: str, type: int, ttl: int, data: Any, cls: int = IN) -> None:
        self.name = name
        self.type = type
        self.ttl = ttl
        self.data: Any = data  # its shape follows the type, as above
        self.cls = cls

    def _replace(self, **changes: Any) -> RR:
        out = RR(self.name, self.type, self.ttl, self.data, self.cls)
        for field, value in changes.items():
            setattr(out, field, value)
        return out

    def _key(self) -> tuple[str, int, int, Any, int]:
        return self.name, self.type, self.ttl, self.data, self.cls

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RR) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"RR({self.name!r}, {self.type}, {self.ttl}, {self.data!r}, {self.cls})"


class Question:
    """A question: name (as asked), type and class; compared by value."""

    __slots__ = ("name", "type", "cls")

    def __init__(self, name: str, type: int, cls: int = IN) -> None:
        self.name = name
        self.type = type
        self.cls = cls

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Question) and (self.name, self.type, self.cls) == (other.name, other.type, other.cls)

    def __hash__(self) -> int:
        return hash((self.name, self.type, self.cls))

    def __repr__(self) -> str:
        return f"Question({self.name!r}, {self.type}, {self.cls})"


class Query:
    """A question packet as read: header ID and flags, the question, EDNS
    (whether present, the UDP size the client takes -- at least 512 -- and
    the DO bit and options), and the question section's bytes as sent when
    the packet was plain (the reply copies them)."""

    __slots__ = ("id", "flags", "question", "edns", "udp_size", "do", "options", "raw")

    def __init__(self, id: int, flags: int, question: Question, edns: bool, udp_size: int, do: bool,
                 options: tuple[tuple[int, bytes], ...] = (), raw: bytes | None = None) -> None:
        self.id = id
        self.flags = flags
        self.question = question
        self.edns = edns
        self.udp_size = udp_size
        self.do = do
        self.options = options
        self.raw = raw

    def __repr__(self) -> str:
        return "Query(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__) + ")"


class Reply:
    """What the answer logic decided; the fields below, all keyword arguments.
    A plain class, not a dataclass: one is made per question, and a
    dataclass's generated ``__init__`` (its list and set factories) cost as
    much as the rest of a compiled answer (see :mod:`skydns_common.native`)."""

    __slots__ = ("rcode", "aa", "answer", "authority", "additional", "forward", "needs", "system", "deps",
                 "volatile", "ad")

    def __init__(self, rcode: int = NOERROR, aa: bool = True, answer: list[RR] | None = None,
                 authority: list[RR] | None = None, additional: list[RR] | None = None, forward: bool = False,
                 needs: set[tuple[str, int]] | None = None, system: str = "auth", deps: Deps | None = None,
                 volatile: bool = False, ad: bool = False) -> None:
        self.rcode = rcode
        self.aa = aa
        self.answer: list[RR] = [] if answer is None else answer
        self.authority: list[RR] = [] if authority is None else authority
        self.additional: list[RR] = [] if additional is None else additional
        #: send the whole question to the forwarders instead
        self.forward = forward
        #: (name, type) lookups outside the zone this reply waits for
        self.needs: set[tuple[str, int]] = set() if needs is None else needs
        #: metrics label: auth, recursive, reverse, stub, cache
        self.system = system
        #: (store node, version) pairs this reply was read from; None: not from the store
        self.deps = deps
        #: TTLs that count down (etcd leases): the packet cannot be reused as is
        self.volatile = volatile
        #: authenticated data (a signed reply)
        self.ad = ad

    def replaced(self, **changes: Any) -> Reply:
        """A copy with some fields changed (the sections are shared, not copied)."""
        out = Reply(self.rcode, self.aa, self.answer, self.authority, self.additional, self.forward, self.needs,
                    self.system, self.deps, self.volatile, self.ad)
        for name, value in changes.items():
            setattr(out, name, value)
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reply) and all(getattr(self, f) == getattr(other, f) for f in self.__slots__)

    def __repr__(self) -> str:
        return "Reply(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__) + ")"


External = Mapping[tuple[str, int], list[RR]]
