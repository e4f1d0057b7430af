"""skydns: an authoritative DNS server for the /skydns tree in etcd v3."""

__version__ = "0.1.0"
