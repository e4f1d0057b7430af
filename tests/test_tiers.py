"""The tiers hold: in a test with no tier marker, starting a program fails,
and asking for the etcd fixture without the etcd marker stops collection.
Each case runs a one-test module under the suite's own conftest."""

import pytest

from tests.procs import REPO

pytest_plugins = ["pytester"]
# the marked case below really starts a program (true(1))
pytestmark = [pytest.mark.process]

INI = ("[pytest]\nmarkers =\n    etcd: x\n    process: x\n    slow: x\naddopts = --strict-markers -p no:cacheprovider\n"
       "asyncio_default_fixture_loop_scope = function\n")

# (the test module, pytest's exit code, outcomes)
CASES = [
    ("import subprocess\ndef test_x():\n    subprocess.run(['true'])\n", 1, {"failed": 1}),
    ("import asyncio\ndef test_x():\n    asyncio.run(asyncio.create_subprocess_exec('true'))\n", 1, {"failed": 1}),
    ("import subprocess, pytest\n@pytest.mark.process\ndef test_x():\n    subprocess.run(['true'])\n", 0,
     {"passed": 1}),
    ("def test_x(etcd):\n    pass\n", 4, {}),       # a usage error: nothing runs, no etcd starts
    ("import pytest\n@pytest.mark.parametrize('etcd', [{}])\ndef test_x(etcd):\n    assert etcd == {}\n", 0,
     {"passed": 1}),                                 # a parameter named etcd is not the fixture
    ("def test_x():\n    assert sum([1, 2]) == 3\n", 0, {"passed": 1}),
]


@pytest.mark.parametrize("source,code,outcomes", CASES,
                         ids=["popen", "asyncio-subprocess", "marked", "etcd-fixture", "etcd-parameter", "plain"])
def test_tier_rules(pytester, source, code, outcomes):
    pytester.makeconftest((REPO / "tests" / "conftest.py").read_text())
    pytester.makeini(INI)
    pytester.makepyfile(test_case=source)
    result = pytester.runpytest_inprocess()
    assert result.ret == code, result.stdout.str()
    if outcomes:
        result.assert_outcomes(**outcomes)
    else:
        assert "without the etcd marker" in result.stderr.str() + result.stdout.str()
