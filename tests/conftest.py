import os
import subprocess

import pytest

from tests import etcdkv
from tests.fakeapi import FakeApi
from tests.procs import Etcd

#: as the user's shell has it: importing skydns_common.etcd in this process sets a
#: default, which would otherwise leak into every program a test starts
_GRPC_VERBOSITY = os.environ.get("GRPC_VERBOSITY")


@pytest.fixture(autouse=True)
def _users_environment():
    if _GRPC_VERBOSITY is None:
        os.environ.pop("GRPC_VERBOSITY", None)
    else:
        os.environ["GRPC_VERBOSITY"] = _GRPC_VERBOSITY
    yield


@pytest.fixture(scope="session")
def etcd():
    """A real etcd v3 for the whole session; tests keep to their own prefixes."""
    server = Etcd().start()
    yield server
    server.cleanup()


@pytest.fixture
def api():
    """A fake Kubernetes API server in this process, for one test."""
    server = FakeApi().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clean_prefixes(etcd):
    """``clean_prefixes(*prefixes)`` deletes those etcd prefixes now and again after the test."""
    used: list[str] = []

    def clean(*prefixes: str) -> None:
        used.extend(prefixes)
        for prefix in prefixes:
            etcdkv.delete_prefix(etcd.url, prefix)
    yield clean
    for prefix in used:
        etcdkv.delete_prefix(etcd.url, prefix)


#: the tiers of a test that needs more than this process (pyproject registers them)
TIERS = ("etcd", "process")


def pytest_collection_modifyitems(config, items):
    """A test that asks for the etcd fixture says so: ``make unit`` leaves it out."""
    unmarked = [item.nodeid for item in items if _uses_etcd(item) and not item.get_closest_marker("etcd")]
    if unmarked:
        raise pytest.UsageError("these tests use the etcd fixture without the etcd marker: " + ", ".join(unmarked))


def _uses_etcd(item) -> bool:
    """Whether a test asks for the etcd fixture (a parameter of that name is not it)."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    return "etcd" in item.fixturenames and "etcd" not in params


@pytest.fixture(autouse=True)
def _tier(request, monkeypatch):
    """In a test with no tier marker, starting a program fails: the fast tier
    (``make unit``) stays fast only while every test that starts etcd or a
    process carries ``etcd`` or ``process``."""
    if not any(request.node.get_closest_marker(m) for m in TIERS):
        def refuse(self, *args, **kwargs):
            raise AssertionError(f"{request.node.nodeid} starts a process: mark it with one of {TIERS}")
        monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    yield
