"""The test suite; its helpers (procs, fakeapi, etcdkv, dnsq, tcpproxy, k8sobj, tlsutil) are imported by bench/ too."""
