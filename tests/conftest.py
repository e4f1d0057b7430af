import pytest

from procs import Etcd


@pytest.fixture(scope="session")
def etcd():
    """A real etcd v3 for the whole session; tests keep to their own prefixes."""
    server = Etcd().start()
    yield server
    server.cleanup()
