"""skydns: an authoritative DNS server for the /skydns tree in etcd v3."""

import skydns_common  # noqa: F401 - first: it picks compiled modules or their source

__version__ = "0.1.0"
