"""Signing answers on the fly for clients that set the DO bit, as the original did.

The key is a BIND ``dnssec-keygen`` pair (``K<domain>.+<alg>+<tag>.key`` and
``.private``; RSA and ECDSA P-256).  For a question with DO, every RRset of
the zone in every section gets an RRSIG (inception three hours back,
expiration a week ahead), NXDOMAIN and NODATA get NSEC3 "white lies" (SHA-1,
no salt, no extra iterations: records made up around the hash of the name
so nothing else of the zone is walked), and the reply has AD and an OPT with
DO.  The cryptography is dnspython's ``dns.dnssec``; signatures are cached
per RRset content and reused while they stay valid for another hour, so a
changed record gets a new signature at once.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from typing import Callable, Iterable

import dns.dnssec
import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from . import dnsdata as dd
from skydns_common import msg

INCEPTION_BEFORE = 3 * 3600
LIFETIME = 7 * 24 * 3600
REUSE_MARGIN = 3600


def _b64int(text: str) -> int:
    return int.from_bytes(base64.b64decode(text), "big")


def load_private(path: str, algorithm: int):
    fields = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k.strip()] = v.strip()
    if algorithm in (5, 7, 8, 10):
        pub = rsa.RSAPublicNumbers(_b64int(fields["PublicExponent"]), _b64int(fields["Modulus"]))
        return rsa.RSAPrivateNumbers(_b64int(fields["Prime1"]), _b64int(fields["Prime2"]),
                                     _b64int(fields["PrivateExponent"]), _b64int(fields["Exponent1"]),
                                     _b64int(fields["Exponent2"]), _b64int(fields["Coefficient"]), pub).private_key()
    if algorithm == 13:
        return ec.derive_private_key(_b64int(fields["PrivateKey"]), ec.SECP256R1())
    raise ValueError(f"{path}: algorithm {algorithm} is not supported (RSA and ECDSA P-256 are)")


class Signer:
    def __init__(self, zone: str, dnskey, private_key, key_ttl: int, cache_size: int) -> None:
        self.zone = msg.fqdn(zone.lower())
        self.origin = dns.name.from_text(self.zone)
        self.dnskey = dnskey
        self.key = private_key
        self.key_ttl = key_ttl
        self.cache: OrderedDict = OrderedDict()
        self.cache_size = max(1, cache_size)
        self.hits = self.misses = 0

    @classmethod
    def load(cls, basename: str, domain: str, cache_size: int) -> "Signer":
        base = basename[:-4] if basename.endswith((".key", ".private")) else basename
        base = base[: -len(".private")] if base.endswith(".private") else base
        try:
            with open(base + ".key") as f:
                lines = [ln for ln in f if ln.strip() and not ln.startswith(";")]
            rrset = dns.rrset.from_text_list(*_key_fields(lines[0]))
        except (OSError, IndexError, ValueError, dns.exception.DNSException) as exc:
            raise ValueError(f"cannot read the DNSSEC key {base}.key: {exc}") from None
        owner = rrset.name.to_text().lower()
        if owner != msg.fqdn(domain.lower()):
            raise ValueError(f"the DNSSEC key {base}.key is for {owner}, not for the domain {domain}")
        dnskey = rrset[0]
        try:
            private = load_private(base + ".private", dnskey.algorithm)
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"cannot read the DNSSEC key {base}.private: {exc}") from None
        return cls(owner, dnskey, private, rrset.ttl or 3600, cache_size)

    @property
    def dnskey_rr(self) -> dd.RR:
        return dd.RR(self.zone, dd.DNSKEY, self.key_ttl, self.dnskey.to_wire())

    # -- the reply --------------------------------------------------------

    def sign(self, q: dd.Question, reply: dd.Reply, now: float, exists: Callable[[str], bool],
             types_at: Callable[[str], set[int]], min_ttl: int) -> dd.Reply:
        authority = list(reply.authority)
        if reply.rcode == dd.NXDOMAIN:
            authority += self._nxdomain(q.name.lower(), exists, min_ttl)
        elif reply.rcode == dd.NOERROR and not reply.answer and msg.in_domain(q.name, self.zone):
            authority += [self._nsec3(q.name.lower(), min_ttl, match=True,
                                      # RFC 5155 §8.5: a NODATA proof with the CNAME bit is bogus
                                      types=types_at(q.name.lower()) - {q.type, dd.CNAME})]
        return reply.replaced(ad=True, answer=self._with_sigs(reply.answer, now),
                       authority=self._with_sigs(authority, now), additional=self._with_sigs(reply.additional, now))

    def _with_sigs(self, records: list[dd.RR], now: float) -> list[dd.RR]:
        out: list[dd.RR] = []
        sets: OrderedDict = OrderedDict()
        for rr in records:
            sets.setdefault((rr.name.lower(), rr.type, rr.cls), []).append(rr)
        for (name, rtype, cls), rrs in sets.items():
            ttl = min(rr.ttl for rr in rrs)
            rrs = [rr._replace(ttl=ttl) for rr in rrs]
            out += rrs
            if cls == dd.IN and msg.in_domain(name, self.zone):
                out.append(dd.RR(rrs[0].name, 46, ttl, self._rrsig(rrs, now)))  # 46: RRSIG
        return out

    def _rrsig(self, rrs: list[dd.RR], now: float) -> bytes:
        # the key is the RRset's content as the answer logic made it: no conversion on a hit
        key = (rrs[0].name.lower(), rrs[0].type, rrs[0].ttl, tuple(sorted(repr(rr.data) for rr in rrs)))
        sig = self.cache.get(key)
        if sig is not None and sig.expiration - now >= REUSE_MARGIN:
            self.cache.move_to_end(key)
            self.hits += 1
            return sig.to_wire()
        self.misses += 1
        rrset = dns.rrset.from_rdata_list(dns.name.from_text(rrs[0].name), rrs[0].ttl, [_rdata(rr) for rr in rrs])
        sig = dns.dnssec.sign(rrset, self.key, self.origin, self.dnskey, inception=int(now) - INCEPTION_BEFORE,
                              expiration=int(now) + LIFETIME)
        self.cache[key] = sig
        if len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return sig.to_wire()  # type: ignore[return-value]  # bytes: no file was given

    # -- denial -----------------------------------------------------------

    def _hash(self, name: str) -> int:
        return int.from_bytes(base64.b32hexdecode(dns.dnssec.nsec3_hash(name, "", 0, 1)), "big")

    def _label(self, h: int) -> str:
        return base64.b32hexencode((h % (1 << 160)).to_bytes(20, "big")).decode().lower()

    def _nsec3(self, name: str, ttl: int, match: bool, types: Iterable[int] = frozenset()) -> dd.RR:
        """An NSEC3 that matches ``name`` (owner = its hash) or covers it
        (owner just below its hash, next just above)."""
        h = self._hash(name)
        owner, nxt = (h, h + 1) if match else (h - 1, h + 1)
        bitmap = " ".join(dns.rdatatype.to_text(t)  # type: ignore[arg-type]  # dnspython takes ints too
                          for t in sorted(set(types) | ({46} if match else set())))
        rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.NSEC3,
                                 f"1 0 0 - {self._label(nxt).upper()} {bitmap}".strip())
        return dd.RR(f"{self._label(owner)}.{self.zone}", 50, ttl, rd.to_wire())  # 50: NSEC3

    def _nxdomain(self, qname: str, exists: Callable[[str], bool], ttl: int) -> list[dd.RR]:
        labels = qname.rstrip(".").split(".")
        encloser = self.zone
        for i in range(1, len(labels)):
            candidate = ".".join(labels[i:]) + "."
            if not msg.in_domain(candidate, self.zone):
                break
            if candidate == self.zone or exists(candidate):
                encloser = candidate
                next_closer = ".".join(labels[i - 1:]) + "."
                break
        else:
            next_closer = qname
        apex_types = {dd.SOA, dd.NS, dd.DNSKEY} if encloser == self.zone else set()
        return [self._nsec3(encloser, ttl, match=True, types=apex_types),
                self._nsec3(next_closer, ttl, match=False),
                self._nsec3("*." + encloser, ttl, match=False)]


def _key_fields(line: str):
    parts = line.split()
    # owner [ttl] [class] DNSKEY flags proto alg key...
    owner, rest = parts[0], parts[1:]
    ttl = 3600
    if rest and rest[0].isdigit():
        ttl, rest = int(rest[0]), rest[1:]
    if rest and rest[0].upper() == "IN":
        rest = rest[1:]
    if not rest or rest[0].upper() != "DNSKEY":
        raise ValueError("not a DNSKEY record")
    return owner, ttl, "IN", "DNSKEY", [" ".join(rest[1:])]


def _rdata(rr: dd.RR):
    t, d = rr.type, rr.data
    if isinstance(d, (bytes, bytearray)):
        return dns.rdata.from_wire(dns.rdataclass.IN, t, d, 0, len(d))  # type: ignore[arg-type]  # ints do
    if t in (dd.A, dd.AAAA, dd.CNAME, dd.NS, dd.PTR):
        text = d
    elif t == dd.TXT:
        text = " ".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in d)
    else:
        text = " ".join(str(x) for x in d)
    return dns.rdata.from_text(rr.cls, t, text)  # type: ignore[arg-type]  # ints do
