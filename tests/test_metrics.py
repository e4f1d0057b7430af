"""Which error cause a reply is counted under (spec section 7)."""

import pytest

from skydns.metrics import cause

# (what, rcode, TC bit, no answer records, cause)
CASES = [
    ("an answer", 0, False, False, None),
    ("NODATA", 0, False, True, "nodata"),
    ("truncated", 0, True, False, "truncated"),
    ("truncated to nothing", 0, True, True, "truncated"),
    ("NXDOMAIN", 3, False, True, "nxdomain"),
    ("SERVFAIL", 2, False, True, "servfail"),
    ("REFUSED", 5, False, True, "refused"),
    ("FORMERR: no cause", 1, False, True, None),
]


@pytest.mark.parametrize("what,rcode,tc,empty,want", CASES, ids=[c[0] for c in CASES])
def test_cause(what, rcode, tc, empty, want):
    assert cause(rcode, tc, empty) == want
