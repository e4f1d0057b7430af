"""The record format both programs share.

kube2sky writes values that skydns reads, and kube2sky names its leaves by a
hash of the value bytes, so one byte of difference in how a value is written
changes every key in the tree.  This module is the single place that knows the
JSON layout, the name <-> key mapping and the hash label; everything here is a
pure function of its arguments (prefix and domain are passed in, never
global).  See ``shared/spec/records.md`` sections 1-3.
"""

from __future__ import annotations

import ipaddress
import json
import json.scanner
import re
from typing import Any, Final, Iterable, Sequence

from fnv_hash_fast import fnv1a_32

#: Field order of a written value; also the set of fields a value may carry.
FIELDS: Final = ("host", "port", "priority", "weight", "text", "mail", "ttl", "targetstrip", "group")

_INT_RANGES: Final = {
    "port": (0, 0xFFFF),
    "priority": (0, 0xFFFF),
    "weight": (0, 0xFFFF),
    "ttl": (0, 0xFFFFFFFF),
    "targetstrip": (0, 255),
}

#: the Python type of each field as JSON gives it
_TYPES: Final = {"host": str, "port": int, "priority": int, "weight": int, "text": str, "mail": bool, "ttl": int,
          "targetstrip": int, "group": str}

WILDCARDS: Final = frozenset(("*", "any"))

#: a value larger than this is not a record (skydns values are a few dozen bytes)
MAX_VALUE: Final = 64 * 1024


class RecordError(ValueError):
    """A value or a name that cannot be a record."""


class Service:
    """One leaf of the tree: the nine fields of a skydns value, compared and
    hashed by value.  Treated as immutable.  A plain class, not a dataclass:
    skydns makes one per key at start-up, and a dataclass's generated
    ``__init__`` is a Python function even where this module is compiled."""

    __slots__ = FIELDS

    def __init__(self, host: str = "", port: int = 0, priority: int = 0, weight: int = 0, text: str = "",
                 mail: bool = False, ttl: int = 0, targetstrip: int = 0, group: str = "") -> None:
        self.host = host
        self.port = port
        self.priority = priority
        self.weight = weight
        self.text = text
        self.mail = mail
        self.ttl = ttl
        self.targetstrip = targetstrip
        self.group = group

    def _fields(self) -> tuple[str, int, int, int, str, bool, int, int, str]:
        return (self.host, self.port, self.priority, self.weight, self.text, self.mail, self.ttl, self.targetstrip,
                self.group)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Service) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return "Service(" + ", ".join(f"{f}={v!r}" for f, v in zip(FIELDS, self._fields())) + ")"


def parse(raw: bytes | str) -> Service:
    """Read a stored value leniently: unknown fields are ignored, ``null`` is
    the zero value, and a field of the wrong type is an error naming it."""
    return parse_written(raw)[0]


def parse_written(raw: bytes | str) -> tuple[Service, bool]:
    """:func:`parse`, and whether ``raw`` is exactly kube2sky's value for the
    Service's host and port (:func:`kube2sky_value`): then it need not be
    kept, it can be written again (skydns's mirror keeps only the others)."""
    if len(raw) > MAX_VALUE:
        raise RecordError(f"value is larger than {MAX_VALUE // 1024} KiB")
    if type(raw) is bytes:
        written = _kube2sky_service(raw)
        if written is not None:
            # kube2sky_value leaves out an empty host and a port of 0
            return written, bool(written.host) and (written.port != 0 or raw.find(b'"port"') < 0)
    return parse_json(raw), False


def parse_json(raw: bytes | str) -> Service:
    """:func:`parse` through the JSON decoder, whatever the value's shape."""
    try:
        obj = _loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"value is not JSON ({type(exc).__name__} at position {getattr(exc, 'pos', '?')})") from None
    if not isinstance(obj, dict):
        raise RecordError(f"value is JSON {type(obj).__name__}, not an object")
    out = Service()
    for name, v in obj.items():
        spec = _SPEC.get(name)
        if spec is None or v is None:
            continue  # unknown fields are ignored; null is the zero value
        kind, lo, hi = spec
        if type(v) is kind and (kind is not int or lo <= v <= hi):
            setattr(out, name, v)
        else:
            setattr(out, name, _check(name, v))  # raises, naming the field
    return out


def _kube2sky_service(raw: bytes) -> Service | None:
    """The Service of a value exactly as kube2sky writes it
    (:func:`kube2sky_value`) for a host that needs no JSON escaping -- nearly
    every key of a cluster's tree -- read without the JSON decoder (a few
    byte tests, against a decode and a check per field: start-up reads one
    value per key); None for any other form, which the decoder reads."""
    if not raw.startswith(b'{"host":"'):
        return None  # (kube2sky writes a host into every value it reads back)
    end = raw.find(b'",', 9)
    if end < 0:
        return None
    text = raw[9:end]
    if text.translate(None, _PLAIN_BYTES):
        return None  # a byte that JSON might escape, or an escape: the decoder's
    pos = end + 2
    port = 0
    if raw.startswith(b'"port":', pos):
        comma = raw.find(b",", pos + 7)
        digits = raw[pos + 7:comma]
        if comma < 0 or not digits.isdigit() or len(digits) > 5 or (len(digits) > 1 and digits[:1] == b"0"):
            return None
        port = int(digits)
        if port > 0xFFFF:
            return None  # out of range: the decoder's path says so
        pos = comma + 1
    if len(raw) - pos != len(_KUBE2SKY_TAIL_BYTES) or not raw.endswith(_KUBE2SKY_TAIL_BYTES):
        return None
    host = text.decode()
    return Service(host, port, 10, 10, "", False, 30, 0, "")


#: field -> (Python type as JSON gives it, low, high) for one check per field
_SPEC: Final[dict[str, tuple[Any, int, int]]] = {name: (kind, *_INT_RANGES.get(name, (0, 0))) for name, kind in _TYPES.items()}


_SCAN: Final = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # typeshed wants a scanner


def _loads(raw: bytes | str) -> object:
    """json.loads, with a short way for the common case (an object in UTF-8
    bytes with nothing after it); anything else, errors included, goes the
    long way, so results and error positions are json.loads's own."""
    if type(raw) is bytes and raw[:1] == b"{":
        try:
            text = raw.decode()
            obj, end = _SCAN(text, 0)
            if end == len(text):
                return obj
        except (ValueError, UnicodeDecodeError, StopIteration):
            pass
    return json.loads(raw)


def _check(name: str, v: object) -> object:
    if name in _INT_RANGES:
        if isinstance(v, bool) or not isinstance(v, int):
            raise RecordError(f"field {name!r} must be an integer, not {_kind(v)}")
        lo, hi = _INT_RANGES[name]
        if not lo <= v <= hi:
            raise RecordError(f"field {name!r} must be in {lo}..{hi}")
        return v
    if name == "mail":
        if not isinstance(v, bool):
            raise RecordError(f"field 'mail' must be true or false, not {_kind(v)}")
        return v
    if not isinstance(v, str):
        raise RecordError(f"field {name!r} must be a string, not {_kind(v)}")
    return v


def _kind(v: object) -> str:
    # error messages name the JSON type, never the value: they end up in logs
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(v), type(v).__name__)


def _go_string(s: str) -> str:
    # Go's encoding/json escapes these for HTML safety; match it byte for byte.
    out = json.dumps(s, ensure_ascii=False)
    return (out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def dumps(s: Service, *, kube2sky: bool = False) -> str:
    """Compact JSON, fields in spec order, zero values left out.  With
    ``kube2sky=True`` ``targetstrip`` is always written, as kube2sky 1.11-1.15
    did; every hash label depends on that."""
    parts = []
    for name in FIELDS:
        v = getattr(s, name)
        if not v and not (kube2sky and name == "targetstrip"):
            continue
        if isinstance(v, bool):
            enc = "true"
        elif isinstance(v, int):
            enc = str(v)
        else:
            enc = _go_string(v)
        parts.append(f'"{name}":{enc}')
    return "{" + ",".join(parts) + "}"


#: what every kube2sky value ends with (spec section 4)
_KUBE2SKY_TAIL: Final = '"priority":10,"weight":10,"ttl":30,"targetstrip":0}'
_KUBE2SKY_TAIL_BYTES: Final = _KUBE2SKY_TAIL.encode()
#: the bytes of a host that JSON writes as it is (an IP or a DNS name)
_PLAIN_BYTES: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-"
_PLAIN: Final = re.compile("^[" + re.escape(_PLAIN_BYTES.decode()) + "]*$")
#: kube2sky's value for an address with no port, as the legacy layout holds it
_KUBE2SKY_ADDRESS: Final = re.compile(r'\{"host":"[0-9a-fA-F.:]+",' + re.escape(_KUBE2SKY_TAIL) + r"\Z")


def kube2sky_value(host: str, port: int = 0) -> str:
    """The value kube2sky writes for a host (and port): ``dumps`` of priority
    10, weight 10, TTL 30 with ``kube2sky=True``, byte for byte.  An IP or a
    DNS name needs no JSON escaping, so it is formatted directly: a large
    first sync makes hundreds of thousands of these."""
    if _PLAIN.match(host):
        p = f'"port":{port},' if port else ""
        h = f'"host":"{host}",' if host else ""
        return f"{{{h}{p}{_KUBE2SKY_TAIL}"
    return dumps(Service(host=host, port=port, priority=10, weight=10, ttl=30), kube2sky=True)


def is_kube2sky_address(raw: str) -> bool:
    """Whether a value is exactly kube2sky's for an address with no port:
    how its leaves are told apart where the key alone cannot tell (the
    legacy ``D/<ns>/<svc>`` layout)."""
    return _KUBE2SKY_ADDRESS.match(raw) is not None


def fnv1a32(data: bytes) -> int:
    """FNV-1a, 32 bits (Go's hash/fnv New32a), from fnv-hash-fast: in C it
    is ~0.5 us a value where a Python loop over the bytes was ~8 us, which
    was the largest cost of kube2sky's full sync (one hash per leaf)."""
    return fnv1a_32(data)


def hash_label(value: str | bytes) -> str:
    """kube2sky's leaf label: FNV-1a 32 of the exact value bytes, lower-case
    hex without zero padding."""
    if isinstance(value, str):
        value = value.encode()
    return format(fnv1a32(value), "x")


# -- names and keys ---------------------------------------------------------

def labels(name: str) -> list[str]:
    """The lower-cased labels of a DNS name in name order:
    ``www.example.org.`` -> ``['www', 'example', 'org']``."""
    name = name.lower().rstrip(".")
    if not name:
        return []
    parts = name.split(".")
    if "" in parts or "/" in name:
        raise RecordError(f"name {name!r} has a label that cannot be a key")
    return parts


def key_parts(name: str) -> list[str]:
    """:func:`labels` in key order (root side first): the path below the
    prefix that the name's key takes, as the store walks it."""
    parts = labels(name)
    parts.reverse()
    return parts


def key_of(name: str, prefix: str = "skydns") -> str:
    """``redis-master.default.svc.cluster.local.`` ->
    ``/skydns/local/cluster/svc/default/redis-master``."""
    return "/".join(["", prefix.strip("/"), *reversed(labels(name))]).rstrip("/") or "/"


def name_of(key: str, prefix: str = "skydns") -> str:
    """The inverse of :func:`key_of`; raises when the key is not under the prefix."""
    return ".".join(reversed(key_labels(key, prefix))) + "."


def key_labels(key: str, prefix: str = "skydns") -> list[str]:
    """The labels of a key below the prefix, in key order (root side first)."""
    head = "/" + prefix.strip("/")
    parts = split_key(key, head)
    if parts is not None:
        return parts
    if not key.startswith(head + "/"):
        raise RecordError(f"key {key!r} is not under /{prefix.strip('/')}")
    raise RecordError(f"key {key!r} has an empty segment")


def split_key(key: str, head: str) -> list[str] | None:
    """key_labels for a ready-made head (``/skydns``), None instead of an
    error: the store splits every key it loads."""
    if key.startswith(head) and key[len(head):len(head) + 1] == "/":
        parts = key[len(head) + 1:].lower().split("/")
        return None if "" in parts else parts
    return [] if key == head else None


def matches(question: Sequence[str], key: Sequence[str]) -> bool:
    """Whether a key (labels in key order) answers a question (labels in key
    order, ``*``/``any`` matching one label).  A key deeper than the question
    matches; comparison is on whole labels, so ``mx`` never matches ``mx2``."""
    if len(key) < len(question):
        return False
    for q, k in zip(question, key):
        if q != k and q not in WILDCARDS:
            return False
    return True


def has_wildcard(parts: Iterable[str]) -> bool:
    return any(p in WILDCARDS for p in parts)


def target_strip(name: str, n: int) -> str:
    """Drop ``n`` leading labels of ``name`` (``targetstrip``); never strips
    the name away entirely."""
    if n <= 0:
        return name
    parts = name.rstrip(".").split(".")
    if n >= len(parts):
        return name
    return ".".join(parts[n:]) + "."


def fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def in_domain(name: str, domain: str) -> bool:
    """Whether ``name`` is ``domain`` or below it (case-insensitive, on label boundaries)."""
    n, d = fqdn(name).lower(), fqdn(domain).lower()
    return d == "." or n == d or n.endswith("." + d)


#: the octets of a dotted quad as inet_pton reads them: 0-255, no leading zeros
_OCTETS: Final = frozenset(str(i) for i in range(256))


def address(host: str) -> tuple[int, str] | None:
    """(4 or 6, the address as text) when ``host`` is an IP address, else
    None (the host is a name): the one test of "is this an IP" for the
    programs and the tool.  Strict, as Go's net.ParseIP and inet_pton:
    dotted quads without leading zeros, IPv6 without a zone, written back
    in inet_ntop's form.  Pure (no socket module): a set of the 256 octets for
    the common IPv4 case, ipaddress for IPv6."""
    quad = host.split(".")
    if len(quad) == 4:
        a, b, c, d = quad
        if a in _OCTETS and b in _OCTETS and c in _OCTETS and d in _OCTETS:
            return 4, host
    if ":" not in host:
        return None
    if "%" in host:
        return None  # ipaddress takes a zone; inet_pton does not
    try:
        ip6 = ipaddress.IPv6Address(host)
    except ValueError:
        return None
    return 6, _ntop6(ip6)


def _ntop6(a: ipaddress.IPv6Address) -> str:
    """IPv6 text as glibc's inet_ntop writes it: ipaddress's compressed form
    (the first longest run of two or more zero groups as ``::``), but an
    IPv4-mapped or -compatible address with a dotted tail."""
    mapped = a.ipv4_mapped
    if mapped is not None:
        return "::ffff:" + str(mapped)
    packed = a.packed
    if packed[:12] == bytes(12) and packed[12:14] != b"\0\0":
        return "::" + str(ipaddress.IPv4Address(packed[12:]))
    return a.compressed
