# One image for both programs (and skydnsctl): `kube2sky ...`, `skydns ...`.
#
# Built from wheels made outside the build, so the build itself needs no
# network:   make image                      (local Debian base, podman/docker)
#            make image BASE=python:3.11-slim  (a registry's Python image)
# By hand:   pip wheel --wheel-dir dist/wheels . && docker build -t skydns-stack .
# The project's wheel carries its compiled parts (mypyc's modules and the UDP
# batch, setup.py), built for this machine's Python 3.11 on glibc: the
# bookworm base and python:3.11-slim run them as they are.  With no wheels in
# dist/wheels the project is installed from the source (that needs the
# network, to PyPI; without a C compiler in the base it runs as Python).
ARG BASE=python:3.11-slim
FROM ${BASE}
ENV PATH=/opt/skydns/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# The venv (PEP 668: no pip into a Debian system Python) has its own copy of
# the interpreter, and only that copy gets CAP_NET_BIND_SERVICE as a file
# capability: uid 10001 binds port 53 with no capability handed to the
# container (nor to any other python in the image).
RUN --mount=type=bind,source=.,target=/src,rw \
    set -eu; \
    python3 -m venv --copies /opt/skydns; \
    if ls /src/dist/wheels/*.whl >/dev/null 2>&1; then \
        /opt/skydns/bin/pip install --no-cache-dir --no-index --find-links /src/dist/wheels skydns-stack; \
    else \
        /opt/skydns/bin/pip install --no-cache-dir /src; \
    fi; \
    /opt/skydns/bin/pip uninstall -y -q pip; \
    command -v setcap >/dev/null || { apt-get update && apt-get install -y --no-install-recommends libcap2-bin \
        && rm -rf /var/lib/apt/lists/*; }; \
    py=$(readlink -f /opt/skydns/bin/python3); \
    setcap cap_net_bind_service=+ep "$py"; \
    getcap "$py" | grep -q cap_net_bind_service; \
    for p in skydns kube2sky skydnsctl; do head -n1 "/opt/skydns/bin/$p" | grep -qx "#!/opt/skydns/bin/python3"; done; \
    groupadd --system --gid 10001 skydns; \
    useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin skydns
USER 10001:10001
EXPOSE 53/udp 53/tcp 8080 8081
ENTRYPOINT []
CMD ["skydns", "--help"]
