"""make lint's import contracts fail on a wrong import.

Each case copies the four packages and pyproject.toml to a temporary
directory, adds one import where the layers forbid it, and runs
lint-imports there: it must exit non-zero naming the contract broken.  The
unchanged copy must pass, so a case cannot pass on a broken configuration.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.procs import REPO

pytestmark = [pytest.mark.process]

PACKAGES = ("skydns", "kube2sky", "skydnsctl", "skydns_common")
LAYERS = "programs above the shared package"
PURE = "pure modules do no I/O"

# (module file, the line added, the contract it breaks; None: none)
CASES = [
    ("kube2sky/plan.py", "import skydns.answer", LAYERS),            # kube2sky imports skydns
    ("skydns/store.py", "import kube2sky.records", LAYERS),          # skydns imports kube2sky
    ("skydns_common/msg.py", "import skydnsctl.records", LAYERS),    # shared imports a program
    ("skydns/answer.py", "import socket", PURE),
    ("kube2sky/records.py", "import skydns_common.etcd", PURE),      # aetcd, through the shared package
    ("skydns/rrsets.py", "import asyncio", PURE),
    ("skydnsctl/records.py", "import kube2sky.records", None),       # the tool may import both programs
    ("skydns/mirror.py", "import socket", None),                      # not a pure module
]


def lint(root: Path) -> subprocess.CompletedProcess:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(lint_imports), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(root)})


@pytest.fixture
def tree(tmp_path):
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    return tmp_path


@pytest.mark.parametrize("path,line,broken", CASES)
def test_a_wrong_import_fails_lint(tree, path, line, broken):
    module = tree / path
    module.write_text(module.read_text() + f"\n{line}  # noqa: E402,F401\n")
    r = lint(tree)
    out = r.stdout + r.stderr
    if broken is None:
        assert r.returncode == 0, out
    else:
        assert r.returncode != 0 and f"{broken}" in out and "BROKEN" in out, out
        assert line.split()[1] in out, out  # the report names the import


def test_the_tree_as_it_is_passes(tree):
    r = lint(tree)
    assert r.returncode == 0 and "0 broken" in r.stdout, r.stdout + r.stderr
