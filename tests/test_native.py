"""The compiled per-question path against its own Python source.

skydns's per-question modules are compiled by mypyc from their source
(skydns_common/native.py, setup.py).  Here both answer the same 100,000
random questions over the conformance data (test_differential's), each
asked twice so the packet cache answers the second time, in two processes:
one as installed, one with SKYDNS_PURE=1; every reply must be the same bytes.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from skydns_common import native

QUESTIONS = 100_000
ROOT = Path(__file__).resolve().parents[1]


def test_the_per_question_path_runs_compiled():
    """Where it was built (make setup, CI) the compiled modules are the ones
    imported, and current; SKYDNS_PURE=1 runs the source instead."""
    import skydns.handler  # noqa: F401 - imports every NATIVE module

    if os.environ.get("SKYDNS_PURE"):
        assert not native.running_compiled() and native.reason == "SKYDNS_PURE is set"
    else:
        assert native.running_compiled(), f"the Python source runs: {native.reason}"
        assert native.stale() == []


@pytest.mark.process
def test_an_edited_source_runs_as_written():
    """A source that differs from what was compiled is run from its .py
    (all NATIVE modules are, since compiled ones rely on each other), with
    a warning: an edited checkout never runs stale compiled code."""
    code = ("import warnings, skydns_common.native as n\n"
            "n.source_digest = lambda m: 'edited' if m == 'skydns.codec' else n.compiled_digests().get(m, '')\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    n.install()\n"
            "import skydns.handler, skydns.codec\n"
            "print(n.reason, n.running_compiled(), skydns.codec.__file__.endswith('.py'), len(w))\n")
    env = {k: v for k, v in os.environ.items() if k != "SKYDNS_PURE"}
    # a fresh interpreter, where no NATIVE module is imported yet: install() decides again
    out = subprocess.run([sys.executable, "-c", code],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    if not native.compiled_digests():
        assert out.stdout.split()[:3] == ["not", "compiled", "False"], out.stdout
        return
    assert out.stdout.strip() == "changed since compiled: skydns.codec False True 1", out.stdout


def _replies(path: Path, pure: bool) -> tuple[str, list[bytes]]:
    env = {k: v for k, v in os.environ.items() if k != "SKYDNS_PURE"}
    if pure:
        env["SKYDNS_PURE"] = "1"
    subprocess.run([sys.executable, "-m", "tests.native_replies", str(path), str(QUESTIONS)], cwd=ROOT, env=env,
                   check=True, timeout=900)
    data = path.read_bytes()
    kind, _, rest = data.partition(b"\n")
    out, i = [], 0
    while i < len(rest):
        n = int.from_bytes(rest[i:i + 4], "big")
        out.append(rest[i + 4:i + 4 + n])
        i += 4 + n
    return kind.decode(), out


@pytest.mark.process
@pytest.mark.slow
def test_compiled_replies_are_the_sources_byte_for_byte(tmp_path):
    compiled_kind, compiled = _replies(tmp_path / "compiled", pure=False)
    source_kind, source = _replies(tmp_path / "source", pure=True)
    assert source_kind == "source"
    assert compiled_kind == ("source" if os.environ.get("SKYDNS_PURE") else "compiled")
    assert len(compiled) == len(source) == 3 * QUESTIONS
    for i in range(0, len(source), 3):
        assert compiled[i:i + 3] == source[i:i + 3], f"question {i // 3}: {source[i]!r}"
    built = [r for r in source[1::3] if r != b"-"]
    assert len(built) >= QUESTIONS * 0.8, len(built)  # most questions are answered from the data
    assert sum(a == b for a, b in zip(source[1::3], source[2::3]) if a != b"-") >= QUESTIONS * 0.5
