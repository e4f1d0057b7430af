"""The fast codec against dnspython, an independent implementation."""

import dns.edns
import dns.flags
import dns.message
import dns.rdatatype
import pytest
from hypothesis import given, strategies as st

from skydns import codec, dnsdata as dd, wire
from tests.dnsq import records

RRS = [
    dd.RR("Web.Example.", dd.A, 30, "10.0.0.1"),
    dd.RR("web.example.", dd.AAAA, 30, "fd00::1"),
    dd.RR("alias.example.", dd.CNAME, 60, "web.example."),
    dd.RR("example.", dd.NS, 60, "ns1.example."),
    dd.RR("1.0.0.10.in-addr.arpa.", dd.PTR, 60, "web.example."),
    dd.RR("example.", dd.MX, 60, (10, "mail.example.")),
    dd.RR("_http._tcp.web.example.", dd.SRV, 60, (10, 50, 80, "web.example.")),
    dd.RR("t.example.", dd.TXT, 60, ("hello", "x" * 255)),
    dd.RR("example.", dd.SOA, 60, ("ns.dns.example.", "hostmaster.example.", 1800000000, 28800, 7200, 604800, 60)),
    dd.RR("version.bind.", dd.TXT, 0, ("skydns",), dd.CH),
]


@pytest.mark.parametrize("edns", [None, (1232, True), (4096, False)])
def test_encode_is_read_back_by_dnspython(edns):
    data = codec.encode(0x1234, 0x8580, "Web.Example.", dd.A, 1, RRS[:3], RRS[8:9], RRS[3:8] + RRS[9:], edns)
    m = dns.message.from_wire(data)
    assert m.id == 0x1234 and m.flags & dns.flags.AA and m.flags & dns.flags.RD
    assert m.question[0].name.to_text() == "Web.Example."
    got = records(m.answer) + records(m.authority) + records(m.additional)
    assert [(r["name"].lower(), r["type"], r["ttl"]) for r in got] == \
        [(rr.name.lower(), dns.rdatatype.to_text(rr.type), rr.ttl) for rr in RRS[:3] + RRS[8:9] + RRS[3:8] + RRS[9:]]
    assert got[0]["name"] == "Web.Example." and got[1]["address"] == "fd00::1"
    txt = [r for r in got if r["type"] == "TXT"][0]
    assert txt["txt"] == ["hello", "x" * 255]
    if edns:
        assert m.edns == 0 and m.payload == edns[0] and bool(m.ednsflags & dns.flags.DO) == edns[1]
    else:
        assert m.edns == -1


NAME = st.lists(st.from_regex(r"\A[A-Za-z0-9_-]{1,20}\Z"), min_size=1, max_size=6).map(lambda parts: ".".join(parts) + ".")


@given(NAME, st.sampled_from(["A", "AAAA", "SRV", "TXT", "MX", "PTR"]), st.booleans(), st.booleans(),
       st.integers(512, 65535))
def test_parse_question_agrees_with_dnspython(name, qtype, use_edns, do, size):
    if use_edns:
        q = dns.message.make_query(name, qtype, use_edns=0, want_dnssec=do, payload=size,
                                   options=[dns.edns.GenericOption(65011, b"\x01")])
    else:
        q = dns.message.make_query(name, qtype)
    parsed = wire.parse_query(q.to_wire())
    assert parsed.id == q.id and parsed.question == dd.Question(name, dns.rdatatype.from_text(qtype), 1)
    assert parsed.edns is use_edns
    if use_edns:
        assert parsed.udp_size == size and parsed.do is do and parsed.options == ((65011, b"\x01"),)


def test_unusual_questions_fall_back_to_dnslib():
    q = dns.message.make_query("a.example.", "A")
    data = bytearray(q.to_wire())
    # the same question, its name given as a compression pointer to itself is junk; a pointer elsewhere is odd
    assert codec.parse_question(bytes(data) + b"\x00") is None
    assert wire.parse_query(bytes(data)).question.name == "a.example."


def _reply(question, rcode=0, tc=False, qid=7):
    m = dns.message.make_response(dns.message.make_query(question, "A"))
    m.id = qid
    m.set_rcode(rcode)
    if tc:
        m.flags |= dns.flags.TC
    return m.to_wire()


# (what, packet, rcode, truncated)
HEADERS = [
    ("NOERROR", _reply("a.example."), 0, False),
    ("NXDOMAIN", _reply("a.example.", rcode=3), 3, False),
    ("REFUSED with TC", _reply("a.example.", rcode=5, tc=True), 5, True),
    ("too short to have flags", b"\x00\x07\x80", 2, False),
]


@pytest.mark.parametrize("what,packet,rcode,tc", HEADERS, ids=[h[0] for h in HEADERS])
def test_header_fields(what, packet, rcode, tc):
    assert (codec.rcode(packet), codec.truncated(packet)) == (rcode, tc)


def test_renumbered_changes_only_the_id():
    packet = _reply("a.example.", qid=7)
    out = codec.renumbered(packet, 0xBEEF)
    assert (out[:codec.ID_LEN], out[codec.ID_LEN:]) == (b"\xbe\xef", packet[2:])


# (what, question of the query, question of the reply, same)
QUESTIONS = [
    ("same", "a.example.", "a.example.", True),
    ("other case", "a.example.", "A.EXAMPLE.", True),
    ("other name", "a.example.", "b.example.", False),
    ("longer name", "a.example.", "a.example.org.", False),
]


@pytest.mark.parametrize("what,asked,answered,same", QUESTIONS, ids=[q[0] for q in QUESTIONS])
def test_same_question(what, asked, answered, same):
    assert codec.same_question(dns.message.make_query(asked, "A").to_wire(), _reply(answered)) is same
