import os

import pytest

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
