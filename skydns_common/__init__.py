"""What skydns, kube2sky and skydnsctl share: the record format (msg), the
etcd connection, retries, Go flag spellings, host:port, hosts files (what
``skydnsctl hosts`` and kube2sky's hosts key write), the health server and
the GC pause.  Imports nothing of the programs above it (make lint)."""

from . import native

native.install()  # before any compiled module is imported: run the source when it must
