# etcd for the pod tests and users without a registry: Debian's etcd-server
# package on the same base as the stack's image.  The context holds the
# package file (scripts/build-images downloads it with apt-get download), so
# the build needs no network.  /usr/local/bin/etcd is where the legacy
# manifest's command (and the official image) has it.
ARG BASE=python:3.11-slim
FROM ${BASE}
COPY etcd-server_*.deb /tmp/
RUN set -eu; \
    dpkg -i /tmp/etcd-server_*.deb; rm -f /tmp/etcd-server_*.deb; \
    ln -s /usr/bin/etcd /usr/local/bin/etcd; \
    groupadd --system --gid 10001 skydns; \
    useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin skydns; \
    mkdir -p /var/etcd/data; chown 10001:10001 /var/etcd/data; chmod 700 /var/etcd/data; \
    /usr/local/bin/etcd --version
USER 10001:10001
VOLUME /var/etcd/data
EXPOSE 2379 2380 4001
ENTRYPOINT []
CMD ["/usr/local/bin/etcd", "--data-dir=/var/etcd/data"]
